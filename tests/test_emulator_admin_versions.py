"""The emulator's Versions and Instances methods through the official
clients, the audit log entries of admin changes, and admin_ops."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from admin_world import (
    DEPLOYER,
    FAST_POLLING,
    PROJECT,
    WARMUP,
    World,
    running_world,
    service_name,
    split_request,
    struct_dict,
    version_name,
)
from google.api_core import exceptions
from google.cloud.appengine_admin_v1 import types as ae
from google.logging.type import log_severity_pb2
from google.protobuf import empty_pb2

from deployconsole.emulator import admin_ops
from deployconsole.emulator.admin_ops import AdminError

ShardBy = ae.TrafficSplit.ShardBy
ACTIVITY_LOG = f"projects/{PROJECT}/logs/cloudaudit.googleapis.com%2Factivity"


@pytest.fixture()
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    yield from running_world(monkeypatch)


def update_version_request(
    service: str, version: str, status: Any, paths: tuple[str, ...]
) -> ae.UpdateVersionRequest:
    request = ae.UpdateVersionRequest(
        name=version_name(service, version),
        version=ae.Version(serving_status=status),
    )
    ae.UpdateVersionRequest.pb(request).update_mask.paths.extend(paths)
    return request


# -- versions -------------------------------------------------------------------


def test_list_versions_basic_and_full_views(world: World) -> None:
    client = world.versions()
    parent = service_name("default")
    basic = list(client.list_versions(request=ae.ListVersionsRequest(parent=parent)))
    assert [version.id for version in basic] == [
        "v1",
        "v2",
        "v3-manual",
        "v4-flex",
        "v5-cold",
    ]
    v1 = basic[0]
    assert list(v1.inbound_services) == [WARMUP]
    assert v1.automatic_scaling.max_concurrent_requests == 10
    assert not v1.handlers and not v1.deployment.files
    full = list(
        client.list_versions(
            request=ae.ListVersionsRequest(parent=parent, view=ae.VersionView.FULL)
        )
    )
    assert full[0].handlers[0].script.script_path == "main.app"
    assert "main.py" in full[0].deployment.files


def test_list_versions_pages(world: World) -> None:
    request = ae.ListVersionsRequest(parent=service_name("default"), page_size=2)
    pages = list(world.versions().list_versions(request=request).pages)
    assert [len(page.versions) for page in pages] == [2, 2, 1]


def test_list_versions_of_unknown_service_is_not_found(world: World) -> None:
    request = ae.ListVersionsRequest(parent=service_name("nope"))
    with pytest.raises(exceptions.NotFound):
        list(world.versions().list_versions(request=request))


def test_get_version(world: World) -> None:
    version = world.versions().get_version(
        request=ae.GetVersionRequest(name=version_name("default", "v1"))
    )
    assert version.name == version_name("default", "v1")
    assert version.serving_status == ae.ServingStatus.SERVING
    assert version.created_by == DEPLOYER
    assert version.version_url == world.state.version_url("default", "v1")
    with pytest.raises(exceptions.NotFound, match="ghost"):
        world.versions().get_version(
            request=ae.GetVersionRequest(name=version_name("default", "ghost"))
        )


def test_update_version_stops_a_version(world: World) -> None:
    request = update_version_request(
        "default", "v1", ae.ServingStatus.STOPPED, ("serving_status",)
    )
    version = (
        world.versions().update_version(request=request).result(polling=FAST_POLLING)
    )
    assert version.serving_status == ae.ServingStatus.STOPPED
    stored = world.state.versions["default"]["v1"]
    assert stored.serving_status == ae.ServingStatus.STOPPED
    assert ("default", "v1") not in world.state.instances


@pytest.mark.parametrize(
    "status, paths, words",
    [
        (ae.ServingStatus.STOPPED, (), "none"),
        (ae.ServingStatus.STOPPED, ("runtime",), "runtime"),
        (ae.ServingStatus.SERVING_STATUS_UNSPECIFIED, ("serving_status",), "SERVING"),
    ],
)
def test_update_version_refusals(
    world: World, status: ae.ServingStatus, paths: tuple[str, ...], words: str
) -> None:
    request = update_version_request("default", "v2", status, paths)
    with pytest.raises(exceptions.InvalidArgument, match=words):
        world.versions().update_version(request=request)
    assert world.audit("UpdateVersion") == []


def test_delete_version_without_traffic(world: World) -> None:
    client = world.versions()
    name = version_name("default", "v2")
    operation = client.delete_version(request=ae.DeleteVersionRequest(name=name))
    assert isinstance(operation.result(polling=FAST_POLLING), empty_pb2.Empty)
    assert "v2" not in world.state.versions["default"]
    with pytest.raises(exceptions.NotFound):
        client.get_version(request=ae.GetVersionRequest(name=name))


def test_a_version_with_traffic_cannot_be_deleted(world: World) -> None:
    name = version_name("default", "v1")
    with pytest.raises(exceptions.InvalidArgument, match="non-zero traffic"):
        world.versions().delete_version(request=ae.DeleteVersionRequest(name=name))
    assert "v1" in world.state.versions["default"]
    assert world.audit("DeleteVersion") == []


def test_delete_version_that_gained_traffic_meanwhile_fails(world: World) -> None:
    world.state.config.operation_delay = 0.5
    operation = world.versions().delete_version(
        request=ae.DeleteVersionRequest(name=version_name("default", "v2"))
    )
    admin_ops.set_split(world.state, "default", {"v1": 0.5, "v2": 0.5})
    with pytest.raises(exceptions.InvalidArgument, match="non-zero traffic"):
        operation.result(polling=FAST_POLLING)
    assert "v2" in world.state.versions["default"]


# -- instances ------------------------------------------------------------------


def test_list_and_delete_instances(world: World) -> None:
    client = world.instances()
    parent = version_name("default", "v1")
    request = ae.ListInstancesRequest(parent=parent)
    instances = list(client.list_instances(request=request))
    assert [instance.id for instance in instances] == ["i-1", "i-2"]

    operation = client.delete_instance(
        request=ae.DeleteInstanceRequest(name=f"{parent}/instances/i-1")
    )
    operation.result(polling=FAST_POLLING)
    remaining = client.list_instances(request=ae.ListInstancesRequest(parent=parent))
    assert [instance.id for instance in remaining] == ["i-2"]
    with pytest.raises(exceptions.NotFound, match="i-1"):
        client.delete_instance(
            request=ae.DeleteInstanceRequest(name=f"{parent}/instances/i-1")
        )


def test_list_instances_of_unknown_version_is_not_found(world: World) -> None:
    request = ae.ListInstancesRequest(parent=version_name("default", "ghost"))
    with pytest.raises(exceptions.NotFound):
        list(world.instances().list_instances(request=request))


# -- audit log --------------------------------------------------------------------


def test_update_service_writes_one_audit_entry_when_accepted(world: World) -> None:
    world.state.config.operation_delay = 1.0
    request = split_request("default", {"v1": 0.5, "v2": 0.5}, migrate=False)
    operation = world.services().update_service(request=request)
    # Written at acceptance, before the operation finished.
    [(entry, payload)] = world.audit("UpdateService")
    assert not operation.done()

    assert entry.log_name == ACTIVITY_LOG
    assert entry.severity == log_severity_pb2.NOTICE
    assert entry.resource.type == "gae_app"
    assert dict(entry.resource.labels) == {
        "project_id": PROJECT,
        "module_id": "default",
    }
    assert entry.operation.id == operation.operation.name
    assert payload.service_name == "appengine.googleapis.com"
    assert payload.method_name == "google.appengine.v1.Services.UpdateService"
    assert payload.resource_name == service_name("default")
    assert payload.authentication_info.principal_email == (
        world.state.config.principal_email
    )
    assert struct_dict(payload.request) == {
        "@type": "type.googleapis.com/google.appengine.v1.UpdateServiceRequest",
        "name": service_name("default"),
        "service": {"split": {"shardBy": "IP", "allocations": {"v1": 0.5, "v2": 0.5}}},
        "updateMask": "split",
    }
    before = struct_dict(payload.resource_original_state)
    assert before["split"]["allocations"] == {"v1": 1.0}
    operation.result(polling=FAST_POLLING)


def test_update_and_delete_version_write_audit_entries(world: World) -> None:
    versions = world.versions()
    stop = update_version_request(
        "default", "v2", ae.ServingStatus.STOPPED, ("serving_status",)
    )
    versions.update_version(request=stop).result(polling=FAST_POLLING)
    delete = ae.DeleteVersionRequest(name=version_name("default", "v2"))
    versions.delete_version(request=delete).result(polling=FAST_POLLING)

    [(stopped, stop_payload)] = world.audit("UpdateVersion")
    assert stopped.resource.labels["version_id"] == "v2"
    assert stop_payload.resource_name == version_name("default", "v2")
    assert struct_dict(stop_payload.request)["version"] == {"servingStatus": "STOPPED"}
    [(deleted, delete_payload)] = world.audit("DeleteVersion")
    assert delete_payload.method_name == "google.appengine.v1.Versions.DeleteVersion"
    assert struct_dict(delete_payload.request)["name"] == version_name("default", "v2")
    assert struct_dict(delete_payload.resource_original_state)["id"] == "v2"


def test_audit_insert_ids_are_unique(world: World) -> None:
    ids = [entry.insert_id for entry, _ in world.audit()]
    assert len(ids) == 6  # one CreateVersion per version of the world
    assert len(set(ids)) == len(ids)


# -- admin_ops ----------------------------------------------------------------------


def test_create_version_fills_the_deploy_fields(world: World) -> None:
    state = world.state
    version = admin_ops.create_version(
        state, "worker", ae.Version(id="w1", runtime="python311"), principal="x@y.z"
    )
    assert version.name == version_name("worker", "w1")
    assert version.created_by == "x@y.z"
    assert version.version_url == state.version_url("worker", "w1")
    assert version.serving_status == ae.ServingStatus.SERVING
    assert version.create_time.timestamp() == state.clock.now()
    # A new service serves its first version.
    assert state.split_of("worker") == {"w1": 1.0}

    [(entry, payload)] = world.audit("CreateVersion")[-1:]
    assert payload.resource_name == version_name("worker", "w1")
    assert payload.authentication_info.principal_email == "x@y.z"
    assert entry.resource.labels["version_id"] == "w1"
    assert struct_dict(payload.request)["parent"] == service_name("worker")


def test_create_version_keeps_an_existing_split(world: World) -> None:
    admin_ops.create_version(world.state, "default", ae.Version(id="v9"))
    assert world.state.split_of("default") == {"v1": 1.0}
    stopped = admin_ops.create_version(
        world.state,
        "default",
        ae.Version(id="v10", serving_status=ae.ServingStatus.STOPPED),
    )
    assert stopped.serving_status == ae.ServingStatus.STOPPED


def test_create_version_needs_an_id(world: World) -> None:
    with pytest.raises(AdminError) as caught:
        admin_ops.create_version(world.state, "default", ae.Version(runtime="x"))
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT


def test_set_split_applies_at_once_and_is_audited(world: World) -> None:
    admin_ops.set_split(
        world.state,
        "default",
        {"v1": 0.9, "v5-cold": 0.1},
        shard_by="cookie",
        principal=DEPLOYER,
    )
    assert world.state.split_of("default") == {"v1": 0.9, "v5-cold": 0.1}
    assert world.state.services["default"].split.shard_by == ShardBy.COOKIE
    [(_, payload)] = world.audit("UpdateService")
    assert payload.authentication_info.principal_email == DEPLOYER
    assert struct_dict(payload.request)["service"]["split"]["shardBy"] == "COOKIE"


@pytest.mark.parametrize(
    "allocations, shard_by, migrate, code",
    [
        ({"v1": 0.333, "v2": 0.667}, "IP", False, grpc.StatusCode.INVALID_ARGUMENT),
        ({"v2": 1.0}, "SIDEWAYS", False, grpc.StatusCode.INVALID_ARGUMENT),
        ({"v5-cold": 1.0}, "IP", True, grpc.StatusCode.INVALID_ARGUMENT),
    ],
)
def test_set_split_refuses_like_update_service(
    world: World,
    allocations: dict[str, float],
    shard_by: str,
    migrate: bool,
    code: grpc.StatusCode,
) -> None:
    with pytest.raises(AdminError) as caught:
        admin_ops.set_split(
            world.state, "default", allocations, shard_by=shard_by, migrate=migrate
        )
    assert caught.value.code == code
    assert caught.value.message
    assert world.state.split_of("default") == {"v1": 1.0}
    assert world.audit("UpdateService") == []


def test_set_split_of_unknown_service_is_not_found(world: World) -> None:
    with pytest.raises(AdminError) as caught:
        admin_ops.set_split(world.state, "nope", {"x": 1.0})
    assert caught.value.code == grpc.StatusCode.NOT_FOUND


def test_validate_split_accepts_a_valid_migration(world: World) -> None:
    admin_ops.validate_split(world.state, "default", {"v2": 1.0}, "IP", True)
