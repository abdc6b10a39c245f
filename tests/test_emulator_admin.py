"""The emulator's Applications, Services and Operations methods, their
refusals and fault switches, through the official clients."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from admin_world import (
    FAST_POLLING,
    PROJECT,
    World,
    running_world,
    service_name,
    split_request,
)
from google.api_core import exceptions
from google.cloud.appengine_admin_v1 import types as ae
from google.longrunning import operations_pb2, operations_pb2_grpc
from google.rpc import code_pb2, error_details_pb2

from deployconsole.emulator import admin_ops
from deployconsole.gcp import channel

ShardBy = ae.TrafficSplit.ShardBy


@pytest.fixture()
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    yield from running_world(monkeypatch)


def violations(error: exceptions.GoogleAPICallError) -> list[tuple[str, str]]:
    """The field violations a refusal carries as google.rpc.BadRequest."""
    found = []
    for detail in error.details:
        if isinstance(detail, error_details_pb2.BadRequest):
            found += [(v.field, v.description) for v in detail.field_violations]
    return found


def test_get_application_points_at_the_http_server(world: World) -> None:
    world.state.http_base = "http://127.0.0.1:48123"
    app = world.applications().get_application(
        request=ae.GetApplicationRequest(name=f"apps/{PROJECT}")
    )
    assert app.name == f"apps/{PROJECT}"
    assert app.id == PROJECT
    assert app.default_hostname == "127.0.0.1:48123"
    assert app.location_id == "us-central"
    assert app.serving_status == ae.Application.ServingStatus.SERVING


def test_get_application_of_another_project_is_not_found(world: World) -> None:
    with pytest.raises(exceptions.NotFound, match="apps/other"):
        world.applications().get_application(
            request=ae.GetApplicationRequest(name="apps/other")
        )


def test_list_services_pages(world: World) -> None:
    client = world.services()
    request = ae.ListServicesRequest(parent=f"apps/{PROJECT}", page_size=1)
    pager = client.list_services(request=request)
    first = next(iter(pager.pages))
    assert [service.id for service in first.services] == ["default"]
    assert first.next_page_token
    assert [service.id for service in client.list_services(request=request)] == [
        "default",
        "api",
    ]


def test_list_services_refuses_a_bad_page_token(world: World) -> None:
    request = ae.ListServicesRequest(parent=f"apps/{PROJECT}", page_token="nonsense")
    with pytest.raises(exceptions.InvalidArgument, match="page token"):
        list(world.services().list_services(request=request))


def test_get_service_shows_the_live_split(world: World) -> None:
    service = world.services().get_service(
        request=ae.GetServiceRequest(name=service_name("default"))
    )
    assert service.id == "default"
    assert dict(service.split.allocations) == {"v1": 1.0}


@pytest.mark.parametrize(
    "name, error",
    [
        (service_name("nope"), exceptions.NotFound),
        ("apps/other/services/default", exceptions.NotFound),
        (f"apps/{PROJECT}/default", exceptions.InvalidArgument),
    ],
)
def test_get_service_refusals(world: World, name: str, error: type) -> None:
    with pytest.raises(error):
        world.services().get_service(request=ae.GetServiceRequest(name=name))


def test_update_service_changes_the_split_when_its_operation_ends(
    world: World,
) -> None:
    world.state.config.operation_delay = 1.0
    operation = world.services().update_service(
        request=split_request("default", {"v1": 0.75, "v2": 0.25})
    )
    # Accepted, not applied yet: traffic moves when the operation finishes.
    assert world.state.split_of("default") == {"v1": 1.0}
    assert not operation.done()
    service = operation.result(polling=FAST_POLLING)
    assert dict(service.split.allocations) == {"v1": 0.75, "v2": 0.25}
    assert service.split.shard_by == ShardBy.IP
    assert world.state.split_of("default") == {"v1": 0.75, "v2": 0.25}

    metadata = operation.metadata
    assert isinstance(metadata, ae.OperationMetadataV1)
    assert metadata.method == "google.appengine.v1.Services.UpdateService"
    assert metadata.target == service_name("default")
    assert metadata.user == world.state.config.principal_email
    assert metadata.insert_time and metadata.end_time
    assert operation.operation.name.startswith(f"apps/{PROJECT}/operations/")


def test_update_service_cookie_split_allows_three_decimals(world: World) -> None:
    request = split_request(
        "default", {"v1": 0.333, "v2": 0.667}, shard_by=ShardBy.COOKIE
    )
    service = (
        world.services().update_service(request=request).result(polling=FAST_POLLING)
    )
    assert dict(service.split.allocations) == {"v1": 0.333, "v2": 0.667}
    assert service.split.shard_by == ShardBy.COOKIE


def test_migrate_traffic_moves_everything_to_one_warm_version(world: World) -> None:
    request = split_request("default", {"v2": 1.0}, migrate=True)
    operation = world.services().update_service(request=request)
    service = operation.result(polling=FAST_POLLING)
    assert dict(service.split.allocations) == {"v2": 1.0}
    assert world.state.split_of("default") == {"v2": 1.0}


REFUSED_SPLITS = [
    ({"v1": 1.5}, ShardBy.IP, False, "outside (0, 1]"),
    ({"v1": 0.0, "v2": 1.0}, ShardBy.IP, False, "outside (0, 1]"),
    ({"v1": -0.5, "v2": 1.5}, ShardBy.IP, False, "outside (0, 1]"),
    ({"v1": 0.5, "v2": 0.4}, ShardBy.IP, False, "must sum to 1"),
    ({"v1": 0.333, "v2": 0.667}, ShardBy.IP, False, "more than 2 decimal places"),
    (
        {"v1": 0.333, "v2": 0.667},
        ShardBy.UNSPECIFIED,
        False,
        "more than 2 decimal places",
    ),
    (
        {"v1": 0.3335, "v2": 0.6665},
        ShardBy.RANDOM,
        False,
        "more than 3 decimal places",
    ),
    ({"v1": 0.5, "ghost": 0.5}, ShardBy.IP, False, "[ghost] does not exist"),
    ({}, ShardBy.IP, False, "at least one version"),
    ({"v1": 0.5, "v2": 0.5}, ShardBy.IP, True, "single target version"),
    ({"v5-cold": 1.0}, ShardBy.IP, True, "Warmup requests must be enabled"),
    ({"v3-manual": 1.0}, ShardBy.IP, True, "requires automatic scaling"),
    ({"v4-flex": 1.0}, ShardBy.IP, True, "does not support App Engine Flexible"),
]


@pytest.mark.parametrize("allocations, shard_by, migrate, words", REFUSED_SPLITS)
def test_update_service_refusals(
    world: World,
    allocations: dict[str, float],
    shard_by: ShardBy,
    migrate: bool,
    words: str,
) -> None:
    request = split_request("default", allocations, shard_by, migrate)
    with pytest.raises(exceptions.InvalidArgument) as caught:
        world.services().update_service(request=request)
    assert words in caught.value.message
    assert any(words in description for _, description in violations(caught.value))
    assert all(field.startswith("service") for field, _ in violations(caught.value))
    assert world.state.split_of("default") == {"v1": 1.0}
    assert world.audit("UpdateService") == []


@pytest.mark.parametrize("paths", [(), ("migrate_traffic",), ("split", "labels")])
def test_update_service_refuses_a_bad_update_mask(
    world: World, paths: tuple[str, ...]
) -> None:
    request = split_request("default", {"v2": 1.0}, paths=paths)
    with pytest.raises(exceptions.InvalidArgument, match="update mask"):
        world.services().update_service(request=request)
    assert world.state.split_of("default") == {"v1": 1.0}


def test_update_service_of_unknown_service_is_not_found(world: World) -> None:
    with pytest.raises(exceptions.NotFound, match="nope"):
        world.services().update_service(request=split_request("nope", {"x": 1.0}))


def test_a_second_change_while_one_runs_is_aborted(world: World) -> None:
    world.state.config.operation_delay = 1.0
    client = world.services()
    first = client.update_service(request=split_request("default", {"v2": 1.0}))
    with pytest.raises(exceptions.Aborted, match="already in progress"):
        client.update_service(request=split_request("default", {"v1": 1.0}))
    first.result(polling=FAST_POLLING)
    # Once the first is done the service takes changes again.
    second = client.update_service(request=split_request("default", {"v1": 1.0}))
    assert dict(second.result(polling=FAST_POLLING).split.allocations) == {"v1": 1.0}


def test_a_change_without_operation_is_aborted_while_one_runs(world: World) -> None:
    # The scenario's "someone else" changes splits directly (admin_ops), as
    # the web console would: it is refused like a second UpdateService.
    world.state.config.operation_delay = 1.0
    client = world.services()
    first = client.update_service(request=split_request("default", {"v2": 1.0}))
    with pytest.raises(admin_ops.AdminError, match="already in progress") as refused:
        admin_ops.set_split(world.state, "default", {"v1": 0.5, "v2": 0.5})
    assert refused.value.code == grpc.StatusCode.ABORTED
    first.result(polling=FAST_POLLING)
    # The running change was not overwritten, and the service takes changes
    # again once it is done.
    assert world.state.split_of("default") == {"v2": 1.0}
    admin_ops.set_split(world.state, "default", {"v1": 0.5, "v2": 0.5})
    assert world.state.split_of("default") == {"v1": 0.5, "v2": 0.5}


def test_delete_service(world: World) -> None:
    client = world.services()
    operation = client.delete_service(
        request=ae.DeleteServiceRequest(name=service_name("api"))
    )
    operation.result(polling=FAST_POLLING)
    assert "api" not in world.state.services
    assert "api" not in world.state.versions
    with pytest.raises(exceptions.NotFound):
        client.get_service(request=ae.GetServiceRequest(name=service_name("api")))


def test_the_default_service_cannot_be_deleted(world: World) -> None:
    with pytest.raises(exceptions.InvalidArgument, match="default service"):
        world.services().delete_service(
            request=ae.DeleteServiceRequest(name=service_name("default"))
        )
    assert "default" in world.state.services


def test_get_and_list_operations(world: World) -> None:
    client = world.services()
    operation = client.update_service(request=split_request("default", {"v2": 1.0}))
    operation.result(polling=FAST_POLLING)
    name = operation.operation.name

    operations = client.transport.operations_client
    fetched = operations.get_operation(name)
    assert fetched.done
    assert fetched.response.type_url.endswith("google.appengine.v1.Service")
    listed = list(operations.list_operations(f"apps/{PROJECT}", ""))
    assert [op.name for op in listed] == [name]

    with pytest.raises(exceptions.NotFound):
        operations.get_operation(f"apps/{PROJECT}/operations/unknown")
    with pytest.raises(exceptions.InvalidArgument, match="filter"):
        list(operations.list_operations(f"apps/{PROJECT}", "done=true"))


def test_list_operations_pages(world: World) -> None:
    client = world.services()
    for target in ("v2", "v1", "v2"):
        request = split_request("default", {target: 1.0})
        client.update_service(request=request).result(polling=FAST_POLLING)
    # api_core's OperationsClient takes no page size: use the plain stub.
    stub = operations_pb2_grpc.OperationsStub(
        channel.emulator_channel(world.emulator.address)
    )
    first = stub.ListOperations(
        operations_pb2.ListOperationsRequest(name=f"apps/{PROJECT}", page_size=2)
    )
    second = stub.ListOperations(
        operations_pb2.ListOperationsRequest(
            name=f"apps/{PROJECT}", page_size=2, page_token=first.next_page_token
        )
    )
    assert len(first.operations) == 2 and first.next_page_token
    assert len(second.operations) == 1 and not second.next_page_token
    names = [op.name for op in (*first.operations, *second.operations)]
    assert len(set(names)) == 3


# -- faults -------------------------------------------------------------------


def test_fault_unavailable_fails_the_next_calls_only(world: World) -> None:
    world.emulator.faults.set("unavailable=GetService:2")
    client = world.services()
    request = ae.GetServiceRequest(name=service_name("default"))
    for _ in range(2):
        with pytest.raises(exceptions.ServiceUnavailable):
            client.get_service(request=request, retry=None)
    assert client.get_service(request=request).id == "default"


def test_fault_slow_outlasts_a_short_deadline(world: World) -> None:
    world.emulator.faults.set("slow=ListServices:0.5")
    request = ae.ListServicesRequest(parent=f"apps/{PROJECT}")
    with pytest.raises(exceptions.DeadlineExceeded):
        list(world.services().list_services(request=request, timeout=0.1))


def test_fault_permission_denied(world: World) -> None:
    world.emulator.faults.set("permission-denied=UpdateService")
    with pytest.raises(exceptions.PermissionDenied):
        world.services().update_service(request=split_request("default", {"v2": 1.0}))
    assert world.state.split_of("default") == {"v1": 1.0}
    assert world.audit("UpdateService") == []


def test_fault_operation_error_ends_the_operation_in_error(world: World) -> None:
    world.emulator.faults.set("operation-error=UpdateService")
    operation = world.services().update_service(
        request=split_request("default", {"v2": 1.0})
    )
    with pytest.raises(exceptions.GoogleAPICallError, match="fault injected"):
        operation.result(polling=FAST_POLLING)
    assert operation.done()
    assert world.state.split_of("default") == {"v1": 1.0}
    # The change was accepted before it failed, so it is in the audit log,
    # and so is its end, with the operation's error.
    [(accepted, _)] = world.audit("UpdateService")
    assert accepted.operation.first and not accepted.operation.last
    [(ended, end_payload)] = world.audit("UpdateService", ends=True)
    assert ended.operation.id == accepted.operation.id == operation.operation.name
    assert end_payload.status.code == code_pb2.INTERNAL
    assert "fault injected" in end_payload.status.message
    assert ended.resource.labels["module_id"] == "default"


def test_a_finished_operation_writes_its_end_to_the_audit_log(world: World) -> None:
    operation = world.services().update_service(
        request=split_request("default", {"v2": 1.0})
    )
    operation.result(polling=FAST_POLLING)
    # Written before the operation reads as done.
    [(accepted, _)] = world.audit("UpdateService")
    [(ended, end_payload)] = world.audit("UpdateService", ends=True)
    assert ended.operation.id == accepted.operation.id
    assert ended.operation.last and not ended.operation.first
    assert end_payload.status.code == 0
    assert end_payload.method_name == "google.appengine.v1.Services.UpdateService"


def test_fault_unavailable_on_get_operation(world: World) -> None:
    client = world.services()
    operation = client.update_service(request=split_request("default", {"v2": 1.0}))
    world.emulator.faults.set("unavailable=GetOperation:1")
    operations = client.transport.operations_client
    with pytest.raises(exceptions.ServiceUnavailable):
        operations.get_operation(operation.operation.name, retry=None)
    # The fault is used up: polling goes on to the end.
    service = operation.result(polling=FAST_POLLING)
    assert dict(service.split.allocations) == {"v2": 1.0}


def test_operation_response_is_packed_for_the_client(world: World) -> None:
    operation = world.services().update_service(
        request=split_request("default", {"v2": 1.0})
    )
    operation.result(polling=FAST_POLLING)
    raw: operations_pb2.Operation = operation.operation
    service = ae.Service.deserialize(raw.response.value)
    assert dict(service.split.allocations) == {"v2": 1.0}
