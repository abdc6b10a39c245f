"""A small App Engine world for the admin tests, built through admin_ops.

Services and versions:
- default: v1 (python27, warmup, automatic scaling) with all traffic;
  v2 (python311, warmup, automatic); v3-manual (manual scaling, warmup);
  v4-flex (flexible, warmup); v5-cold (automatic, no warmup).
- api: a1 with all traffic.
Instances: two on default/v1.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from google.cloud.appengine_admin_v1 import types as ae
from google.cloud.audit import audit_log_pb2
from google.protobuf import json_format

from deployconsole.emulator import admin_ops
from deployconsole.emulator.server import Emulator, EmulatorOptions
from deployconsole.emulator.state import EmulatorConfig, EmulatorState, ManualClock
from deployconsole.gcp import channel
from deployconsole.gcp.admin import fast_polling

WARMUP = ae.InboundServiceType.INBOUND_SERVICE_WARMUP
PROJECT = "admin-test-project"
DEPLOYER = "dev@example.com"

# api_core polls an operation after 1 s at first; tests poll fast, and give
# up (failing the test) well after the operation delay.
FAST_POLLING = fast_polling(20.0)


@dataclass
class World:
    emulator: Emulator
    # Every entry handed to the log store, in order (works whichever
    # LogStore implementation is installed).
    written: list[Any] = field(default_factory=list)

    @property
    def state(self) -> EmulatorState:
        return self.emulator.state

    @property
    def endpoint(self) -> channel.Endpoint:
        return channel.Endpoint(PROJECT, emulator=self.emulator.address)

    def services(self) -> Any:
        return channel.services_client(self.endpoint)

    def versions(self) -> Any:
        return channel.versions_client(self.endpoint)

    def instances(self) -> Any:
        return channel.instances_client(self.endpoint)

    def applications(self) -> Any:
        return channel.applications_client(self.endpoint)

    def audit(
        self, method: str | None = None, *, ends: bool = False
    ) -> list[tuple[Any, Any]]:
        """(entry, AuditLog) of the audit entries written, optionally of one
        short method name such as ``UpdateService``: those written when a
        change was accepted, or with ``ends`` those written when its
        operation ended."""
        found = []
        for entry in self.written:
            if not entry.log_name.endswith("cloudaudit.googleapis.com%2Factivity"):
                continue
            if entry.operation.last != ends:
                continue
            payload = audit_log_pb2.AuditLog()
            assert entry.proto_payload.Unpack(payload)
            if method is None or payload.method_name.endswith("." + method):
                found.append((entry, payload))
        return found


def service_name(service: str) -> str:
    return f"apps/{PROJECT}/services/{service}"


def version_name(service: str, version: str) -> str:
    return f"{service_name(service)}/versions/{version}"


def split_request(
    service: str,
    allocations: dict[str, float],
    shard_by: Any = ae.TrafficSplit.ShardBy.IP,
    migrate: bool = False,
    paths: tuple[str, ...] = ("split",),
) -> ae.UpdateServiceRequest:
    request = ae.UpdateServiceRequest(
        name=service_name(service),
        service=ae.Service(
            split=ae.TrafficSplit(shard_by=shard_by, allocations=allocations)
        ),
        migrate_traffic=migrate,
    )
    ae.UpdateServiceRequest.pb(request).update_mask.paths.extend(paths)
    return request


def struct_dict(struct: Any) -> dict[str, Any]:
    return json_format.MessageToDict(struct)


def populate(state: EmulatorState) -> None:
    deploy = admin_ops.create_version
    deploy(
        state,
        "default",
        ae.Version(
            id="v1",
            runtime="python27",
            env="standard",
            inbound_services=[WARMUP],
            automatic_scaling=ae.AutomaticScaling(max_concurrent_requests=10),
            handlers=[
                ae.UrlMap(
                    url_regex="/.*", script=ae.ScriptHandler(script_path="main.app")
                )
            ],
            deployment=ae.Deployment(
                files={
                    "main.py": ae.FileInfo(
                        source_url="https://storage.googleapis.com/b/main.py"
                    )
                }
            ),
        ),
        principal=DEPLOYER,
    )
    deploy(
        state,
        "default",
        ae.Version(
            id="v2", runtime="python311", env="standard", inbound_services=[WARMUP]
        ),
    )
    deploy(
        state,
        "default",
        ae.Version(
            id="v3-manual",
            runtime="python27",
            inbound_services=[WARMUP],
            manual_scaling=ae.ManualScaling(instances=1),
        ),
    )
    deploy(
        state,
        "default",
        ae.Version(
            id="v4-flex", runtime="python", env="flex", inbound_services=[WARMUP]
        ),
    )
    deploy(state, "default", ae.Version(id="v5-cold", runtime="python311"))
    deploy(state, "api", ae.Version(id="a1", runtime="python311"))
    with state.lock:
        state.instances[("default", "v1")] = {
            instance_id: ae.Instance(
                name=f"{version_name('default', 'v1')}/instances/{instance_id}",
                id=instance_id,
                availability=ae.Instance.Availability.DYNAMIC,
            )
            for instance_id in ("i-1", "i-2")
        }


def running_world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """Body of each test module's ``world`` fixture: a started emulator
    holding the world above, stopped afterwards."""
    config = EmulatorConfig(
        project_id=PROJECT, operation_delay=0.05, migration_delay=0.1
    )
    emulator = Emulator(
        EmulatorOptions(run_traffic=False, config=config), clock=ManualClock()
    )
    result = World(emulator)
    store = emulator.state.logs
    assert store is not None
    original_write = store.write

    def capture(entries: Any) -> None:
        result.written.extend(entries)
        original_write(entries)

    monkeypatch.setattr(store, "write", capture)
    # These tests build their own world: the scenario's would mix in.
    monkeypatch.setattr(emulator.scenario, "populate", lambda: None)
    emulator.start()
    populate(emulator.state)
    try:
        yield result
    finally:
        emulator.stop()
