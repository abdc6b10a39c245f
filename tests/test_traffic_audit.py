"""Reading traffic changes from Admin Activity audit entries.

Entries are built here as App Engine writes them (an AuditLog packed in
protoPayload, the request as JSON with ``@type``), and also read through the
official Logging client from the emulator.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from google.cloud.audit import audit_log_pb2
from google.cloud.logging_v2.types import LogEntry
from test_traffic_world import SERVICE, World, start_world

from deployconsole.core.split import ShardBy
from deployconsole.gcp.audit import (
    UPDATE_SERVICE,
    AuditReader,
    change_from_entry,
    traffic_filter,
)

RawLogEntry: Any = LogEntry.pb()


def entry(request: dict[str, Any], *, status: int = 0, original: Any = None) -> Any:
    payload = audit_log_pb2.AuditLog(
        method_name=UPDATE_SERVICE,
        resource_name="apps/p/services/default",
    )
    payload.request.update(request)
    payload.authentication_info.principal_email = "dev@example.com"
    payload.status.code = status
    if original is not None:
        payload.resource_original_state.update(original)
    raw = RawLogEntry(insert_id="abc")
    raw.timestamp.FromSeconds(1_764_000_000)
    raw.resource.labels["module_id"] = "default"
    raw.resource.labels["project_id"] = "p"
    raw.proto_payload.Pack(payload)
    return raw


REQUEST = {
    "@type": "type.googleapis.com/google.appengine.v1.UpdateServiceRequest",
    "name": "apps/p/services/default",
    "service": {"split": {"shardBy": "COOKIE", "allocations": {"v2": 0.25,
                                                               "v1": 0.75}}},
    "updateMask": "split",
    "migrateTraffic": False,
}


def test_an_update_service_entry_becomes_a_change() -> None:
    change = change_from_entry(entry(REQUEST, original={
        "split": {"allocations": {"v1": 1}}
    }))
    assert change is not None
    assert change.who == "dev@example.com" and change.service_id == "default"
    assert change.requested.shard_by is ShardBy.COOKIE
    assert change.requested.as_dict() == {"v1": 0.75, "v2": 0.25}
    assert change.before is not None and change.before.as_dict() == {"v1": 1.0}
    assert change.time.year == 2025 and not change.failed


def test_entries_that_are_not_split_changes() -> None:
    no_split = {**REQUEST, "service": {"networkSettings": {}}, "updateMask": "x"}
    assert change_from_entry(entry(no_split)) is None
    assert change_from_entry(entry(REQUEST, status=7)).failed  # type: ignore[union-attr]
    with pytest.raises(ValueError):
        change_from_entry(RawLogEntry(insert_id="x"))


def test_filter_names_the_log_method_and_service() -> None:
    text = traffic_filter("p", "default")
    assert 'logName="projects/p/logs/cloudaudit.googleapis.com%2Factivity"' in text
    assert f'protoPayload.methodName="{UPDATE_SERVICE}"' in text
    assert 'resource.labels.module_id="default"' in text


@pytest.fixture()
def world() -> Iterator[World]:
    world = start_world()
    yield world
    world.emulator.stop()


def test_read_through_the_official_client(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    world.set_split({"v1": 0.5, "v2": 0.5}, who="a@example.com")
    world.set_split({"v2": 1.0}, who="b@example.com")
    reader = AuditReader(world.endpoint, retry_deadline=2.0)
    try:
        changes = reader.traffic_changes(SERVICE)
        everything = reader.traffic_changes()
    finally:
        reader.close()
    assert [(c.who, c.requested.as_dict()) for c in changes] == [
        ("a@example.com", {"v1": 0.5, "v2": 0.5}),
        ("b@example.com", {"v2": 1.0}),
    ]
    assert changes[1].before is not None
    assert changes[1].before.as_dict() == {"v1": 0.5, "v2": 0.5}
    assert all(c.project == world.endpoint.project for c in changes)
    # The scenario's own services have changes too; all are UpdateService.
    assert len(everything) >= len(changes)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_change_whose_operation_failed_reads_as_failed(world: World) -> None:
    from google.api_core import exceptions
    from google.cloud.appengine_admin_v1 import types as ae
    from google.protobuf import field_mask_pb2

    from deployconsole.core.history import merge, rollback_target
    from deployconsole.core.split import Split
    from deployconsole.gcp.admin import fast_polling
    from deployconsole.gcp.channel import services_client

    world.set_split({"v1": 0.5, "v2": 0.5}, who="a@example.com")
    # Someone else's change is accepted, then its operation fails.
    world.fault("operation-error=UpdateService")
    client = services_client(world.endpoint)
    request = ae.UpdateServiceRequest(
        name=f"apps/{world.endpoint.project}/services/{SERVICE}",
        service=ae.Service(
            split=ae.TrafficSplit(allocations={"v2": 1.0}, shard_by=ShardBy.IP)
        ),
        update_mask=field_mask_pb2.FieldMask(paths=["split"]),
    )
    try:
        operation = client.update_service(request=request)
        with pytest.raises(exceptions.GoogleAPICallError):
            operation.result(polling=fast_polling(10.0))
    finally:
        client.transport.close()
    assert world.live_split() == {"v1": 0.5, "v2": 0.5}

    reader = AuditReader(world.endpoint, retry_deadline=2.0)
    try:
        changes = reader.traffic_changes(SERVICE)
    finally:
        reader.close()
    assert [(c.requested.as_dict(), c.failed) for c in changes] == [
        ({"v1": 0.5, "v2": 0.5}, False),
        ({"v2": 1.0}, True),
    ]
    history = merge([], changes)
    assert [(c.applied, c.outcome) for c in history] == [
        (True, "accepted"),
        (False, "failed"),
    ]
    # So a rollback undoes the change that took effect, not the failed one
    # (whose "before" is the live split: nothing to roll back to).
    target = rollback_target(SERVICE, history, Split.of({"v1": 0.5, "v2": 0.5}))
    assert target.undoes.who == "a@example.com"
    assert target.split.as_dict() != {"v1": 0.5, "v2": 0.5}
