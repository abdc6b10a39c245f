"""google.appengine.v1 Applications and Services handlers."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

import grpc
from google.cloud.appengine_admin_v1 import types as ae
from google.longrunning import operations_pb2

from deployconsole.emulator import admin_ops, audit, rpc
from deployconsole.emulator.admin_common import (
    guarded,
    mask_paths,
    paginate,
    parse_name,
)
from deployconsole.emulator.admin_ops import AdminError, FieldViolation, invalid
from deployconsole.emulator.operations import OperationStore
from deployconsole.emulator.state import EmulatorState

log = logging.getLogger("deployconsole.emulator.admin")

_SERVICE_MASK_PATHS = ("split",)


def application(state: EmulatorState) -> ae.Application:
    """The application as GetApplication shows it, defaults filled in."""
    with state.lock:
        app = ae.Application(state.application)
    project = state.project_id
    app.name = state.app_name()
    app.id = project
    app.location_id = app.location_id or state.config.location_id
    # The loopback HTTP server stands in for PROJECT.appspot.com; the port is
    # known only once it has started, so this is computed at each call.
    app.default_hostname = urlsplit(state.http_base).netloc
    if app.serving_status == ae.Application.ServingStatus.UNSPECIFIED:
        app.serving_status = ae.Application.ServingStatus.SERVING  # type: ignore[assignment]
    app.auth_domain = app.auth_domain or "gmail.com"
    app.code_bucket = app.code_bucket or f"staging.{project}.appspot.com"
    app.default_bucket = app.default_bucket or f"{project}.appspot.com"
    app.service_account = (
        app.service_account or f"{project}@appspot.gserviceaccount.com"
    )
    return app


def build_handlers(
    state: EmulatorState, store: OperationStore
) -> list[grpc.GenericRpcHandler]:
    def get_application(
        request: ae.GetApplicationRequest, context: grpc.ServicerContext
    ) -> ae.Application:
        if request.name != state.app_name():
            raise AdminError(
                grpc.StatusCode.NOT_FOUND,
                f"Application not found: {request.name} (this emulator serves "
                f"{state.app_name()}).",
            )
        return application(state)

    def list_services(
        request: ae.ListServicesRequest, context: grpc.ServicerContext
    ) -> ae.ListServicesResponse:
        parse_name(state, request.parent, (), field="parent")
        with state.lock:
            services = [ae.Service(service) for service in state.services.values()]
        page, token = paginate(services, request.page_size, request.page_token)
        return ae.ListServicesResponse(services=page, next_page_token=token)

    def get_service(
        request: ae.GetServiceRequest, context: grpc.ServicerContext
    ) -> ae.Service:
        (service_id,) = parse_name(state, request.name, ("services",))
        with state.lock:
            return ae.Service(admin_ops.get_service(state, service_id))

    def update_service(
        request: ae.UpdateServiceRequest, context: grpc.ServicerContext
    ) -> operations_pb2.Operation:
        (service_id,) = parse_name(state, request.name, ("services",))
        _check_service_mask(mask_paths(request))
        split = request.service.split
        allocations = dict(split.allocations)
        shard_by = split.shard_by
        migrate = request.migrate_traffic

        def apply() -> ae.Service:
            # Versions may have gone while the operation ran: check again.
            with state.lock:
                admin_ops.validate_split(
                    state, service_id, allocations, shard_by, migrate
                )
                return admin_ops.apply_split(state, service_id, allocations, shard_by)

        with state.lock:
            admin_ops.validate_split(state, service_id, allocations, shard_by, migrate)
            before = ae.Service(admin_ops.get_service(state, service_id))
            operation = store.start(
                "Services.UpdateService",
                state.service_name(service_id),
                apply,
                delay=(
                    state.config.migration_delay
                    if migrate
                    else state.config.operation_delay
                ),
            )
        log.info(
            "UpdateService accepted for service %s: split %s%s (operation %s).",
            service_id,
            allocations,
            ", migrating" if migrate else "",
            operation.name,
        )
        _record(state, "Services.UpdateService", request, service_id, before, operation)
        return operation

    def delete_service(
        request: ae.DeleteServiceRequest, context: grpc.ServicerContext
    ) -> operations_pb2.Operation:
        (service_id,) = parse_name(state, request.name, ("services",))
        if service_id == "default":
            # gcloud's wording; the API refuses too, in words not documented.
            raise invalid(
                [FieldViolation("name", "The default service cannot be deleted.")]
            )

        def apply() -> None:
            with state.lock:
                admin_ops.get_service(state, service_id)
                del state.services[service_id]
                state.versions.pop(service_id, None)
                for key in [key for key in state.instances if key[0] == service_id]:
                    del state.instances[key]
            return None

        with state.lock:
            before = ae.Service(admin_ops.get_service(state, service_id))
            operation = store.start(
                "Services.DeleteService", state.service_name(service_id), apply
            )
        _record(state, "Services.DeleteService", request, service_id, before, operation)
        return operation

    faults = state.faults
    applications = {
        "GetApplication": rpc.unary(
            faults,
            "GetApplication",
            ae.GetApplicationRequest,
            ae.Application,
            guarded(get_application),
        ),
    }
    services = {
        "ListServices": rpc.unary(
            faults,
            "ListServices",
            ae.ListServicesRequest,
            ae.ListServicesResponse,
            guarded(list_services),
        ),
        "GetService": rpc.unary(
            faults, "GetService", ae.GetServiceRequest, ae.Service, guarded(get_service)
        ),
        "UpdateService": rpc.unary(
            faults,
            "UpdateService",
            ae.UpdateServiceRequest,
            operations_pb2.Operation,
            guarded(update_service),
        ),
        "DeleteService": rpc.unary(
            faults,
            "DeleteService",
            ae.DeleteServiceRequest,
            operations_pb2.Operation,
            guarded(delete_service),
        ),
    }
    return [
        rpc.service("google.appengine.v1.Applications", applications),
        rpc.service("google.appengine.v1.Services", services),
    ]


def _check_service_mask(paths: list[str]) -> None:
    if not paths:
        # Wording chosen for the emulator.
        raise invalid(
            [
                FieldViolation(
                    "update_mask",
                    "An update mask is required; the emulator supports 'split'.",
                )
            ]
        )
    unknown = [path for path in paths if path not in _SERVICE_MASK_PATHS]
    if unknown:
        # migrate_traffic is a field of the request, not of the service.
        raise invalid(
            [
                FieldViolation(
                    "update_mask",
                    f"Unsupported update mask path(s) {', '.join(unknown)}; "
                    "UpdateService accepts 'split' (set migrate_traffic on the "
                    "request itself).",
                )
            ]
        )


def _record(
    state: EmulatorState,
    method: str,
    request: Any,
    service_id: str,
    before: Any,
    operation: operations_pb2.Operation,
) -> None:
    audit.record(
        state,
        method,
        request.name,
        request,
        service_id=service_id,
        original=before,
        operation_name=operation.name,
    )
