"""google.appengine.v1 Versions and Instances handlers."""

from __future__ import annotations

import logging
from typing import Any

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

# gRPC masks name fields in snake_case; REST callers (gcloud) in camelCase.
_VERSION_MASK_PATHS = ("serving_status", "servingStatus")
_SETTABLE_STATUSES = (ae.ServingStatus.SERVING, ae.ServingStatus.STOPPED)

# The deployment details only the FULL view shows. The API documents BASIC
# as "basic version information including scaling and inbound services";
# which other fields it leaves out is the emulator's reading.
_FULL_ONLY_FIELDS = (
    "deployment",
    "handlers",
    "error_handlers",
    "libraries",
    "api_config",
    "env_variables",
    "build_env_variables",
    "beta_settings",
    "default_expiration",
    "health_check",
    "readiness_check",
    "liveness_check",
    "nobuild_files_regex",
    "endpoints_api_service",
    "entrypoint",
)

# Wording chosen by the App Engine API (seen in gcloud's output).
_HAS_TRAFFIC = (
    "Cannot delete a version with a non-zero traffic allocation. Please update "
    "your traffic split to remove the allocation for this version and try again."
)


def view_of(version: ae.Version, view: ae.VersionView) -> ae.Version:
    """A copy of ``version`` as the requested view shows it."""
    shown = ae.Version(version)
    if view != ae.VersionView.FULL:
        raw = ae.Version.pb(shown)
        for field in _FULL_ONLY_FIELDS:
            raw.ClearField(field)
    return shown


def _refuse_if_serving_traffic(
    state: EmulatorState, service_id: str, version_id: str
) -> None:
    with state.lock:
        allocation = state.split_of(service_id).get(version_id, 0.0)
    if allocation > 0:
        raise AdminError(
            grpc.StatusCode.INVALID_ARGUMENT,
            _HAS_TRAFFIC,
            (FieldViolation("name", _HAS_TRAFFIC),),
        )


def build_handlers(
    state: EmulatorState, store: OperationStore
) -> list[grpc.GenericRpcHandler]:
    def list_versions(
        request: ae.ListVersionsRequest, context: grpc.ServicerContext
    ) -> ae.ListVersionsResponse:
        (service_id,) = parse_name(state, request.parent, ("services",), "parent")
        with state.lock:
            admin_ops.get_service(state, service_id)
            versions = [
                view_of(version, request.view)
                for version in state.versions.get(service_id, {}).values()
            ]
        page, token = paginate(versions, request.page_size, request.page_token)
        return ae.ListVersionsResponse(versions=page, next_page_token=token)

    def get_version(
        request: ae.GetVersionRequest, context: grpc.ServicerContext
    ) -> ae.Version:
        service_id, version_id = parse_name(
            state, request.name, ("services", "versions")
        )
        with state.lock:
            version = admin_ops.get_version(state, service_id, version_id)
            return view_of(version, request.view)

    def _accepted(
        method: str,
        request: Any,
        before: ae.Version,
        service_id: str,
        version_id: str,
        operation: operations_pb2.Operation,
        detail: str = "",
    ) -> None:
        # App Engine writes the activity entry when it accepts the call.
        log.info(
            "%s accepted: version %s of service %s%s (operation %s).",
            method,
            version_id,
            service_id,
            detail,
            operation.name,
        )
        audit.record(
            state,
            method,
            before.name,
            request,
            service_id=service_id,
            version_id=version_id,
            original=before,
            operation_name=operation.name,
        )

    def update_version(
        request: ae.UpdateVersionRequest, context: grpc.ServicerContext
    ) -> operations_pb2.Operation:
        service_id, version_id = parse_name(
            state, request.name, ("services", "versions")
        )
        _check_version_mask(mask_paths(request))
        status = request.version.serving_status
        if status not in _SETTABLE_STATUSES:
            raise invalid(
                [
                    FieldViolation(
                        "version.serving_status",
                        "serving_status must be SERVING or STOPPED.",
                    )
                ]
            )

        def apply() -> ae.Version:
            with state.lock:
                version = admin_ops.get_version(state, service_id, version_id)
                version.serving_status = status
                if status == ae.ServingStatus.STOPPED:
                    # A stopped version keeps no instances.
                    state.instances.pop((service_id, version_id), None)
                return ae.Version(version)

        with state.lock:
            before = ae.Version(admin_ops.get_version(state, service_id, version_id))
            operation = store.start("Versions.UpdateVersion", before.name, apply)
        _accepted(
            "Versions.UpdateVersion",
            request,
            before,
            service_id,
            version_id,
            operation,
            f" to {status.name}",
        )
        return operation

    def delete_version(
        request: ae.DeleteVersionRequest, context: grpc.ServicerContext
    ) -> operations_pb2.Operation:
        service_id, version_id = parse_name(
            state, request.name, ("services", "versions")
        )

        def apply() -> None:
            with state.lock:
                admin_ops.get_version(state, service_id, version_id)
                # The split may have changed while the operation ran.
                _refuse_if_serving_traffic(state, service_id, version_id)
                del state.versions[service_id][version_id]
                state.instances.pop((service_id, version_id), None)
            return None

        with state.lock:
            before = ae.Version(admin_ops.get_version(state, service_id, version_id))
            _refuse_if_serving_traffic(state, service_id, version_id)
            operation = store.start("Versions.DeleteVersion", before.name, apply)
        _accepted(
            "Versions.DeleteVersion",
            request,
            before,
            service_id,
            version_id,
            operation,
        )
        return operation

    def list_instances(
        request: ae.ListInstancesRequest, context: grpc.ServicerContext
    ) -> ae.ListInstancesResponse:
        service_id, version_id = parse_name(
            state, request.parent, ("services", "versions"), "parent"
        )
        with state.lock:
            admin_ops.get_version(state, service_id, version_id)
            found = state.instances.get((service_id, version_id), {})
            instances = [ae.Instance(instance) for instance in found.values()]
        page, token = paginate(instances, request.page_size, request.page_token)
        return ae.ListInstancesResponse(instances=page, next_page_token=token)

    def delete_instance(
        request: ae.DeleteInstanceRequest, context: grpc.ServicerContext
    ) -> operations_pb2.Operation:
        service_id, version_id, instance_id = parse_name(
            state, request.name, ("services", "versions", "instances")
        )

        def instances() -> dict[str, ae.Instance]:
            admin_ops.get_version(state, service_id, version_id)
            found = state.instances.get((service_id, version_id), {})
            if instance_id not in found:
                # Wording chosen for the emulator.
                raise AdminError(
                    grpc.StatusCode.NOT_FOUND, f"Instance not found: {request.name}."
                )
            return found

        def apply() -> None:
            with state.lock:
                del instances()[instance_id]
            return None

        with state.lock:
            before = ae.Instance(instances()[instance_id])
            operation = store.start("Instances.DeleteInstance", request.name, apply)
        audit.record(
            state,
            "Instances.DeleteInstance",
            request.name,
            request,
            service_id=service_id,
            version_id=version_id,
            original=before,
            operation_name=operation.name,
        )
        return operation

    faults = state.faults
    versions = {
        "ListVersions": rpc.unary(
            faults,
            "ListVersions",
            ae.ListVersionsRequest,
            ae.ListVersionsResponse,
            guarded(list_versions),
        ),
        "GetVersion": rpc.unary(
            faults, "GetVersion", ae.GetVersionRequest, ae.Version, guarded(get_version)
        ),
        "UpdateVersion": rpc.unary(
            faults,
            "UpdateVersion",
            ae.UpdateVersionRequest,
            operations_pb2.Operation,
            guarded(update_version),
        ),
        "DeleteVersion": rpc.unary(
            faults,
            "DeleteVersion",
            ae.DeleteVersionRequest,
            operations_pb2.Operation,
            guarded(delete_version),
        ),
    }
    instances = {
        "ListInstances": rpc.unary(
            faults,
            "ListInstances",
            ae.ListInstancesRequest,
            ae.ListInstancesResponse,
            guarded(list_instances),
        ),
        "DeleteInstance": rpc.unary(
            faults,
            "DeleteInstance",
            ae.DeleteInstanceRequest,
            operations_pb2.Operation,
            guarded(delete_instance),
        ),
    }
    return [
        rpc.service("google.appengine.v1.Versions", versions),
        rpc.service("google.appengine.v1.Instances", instances),
    ]


def _check_version_mask(paths: list[str]) -> None:
    unknown = [path for path in paths if path not in _VERSION_MASK_PATHS]
    if not paths or unknown:
        # Wording chosen for the emulator, which updates serving_status only.
        got = ", ".join(unknown) if unknown else "none"
        raise invalid(
            [
                FieldViolation(
                    "update_mask",
                    "UpdateVersion accepts the update mask path 'serving_status' "
                    f"only (got {got}).",
                )
            ]
        )
