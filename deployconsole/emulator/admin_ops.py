"""Admin actions on the emulator's state, as ``gcloud app deploy`` and the web
console would do them; shared by the gRPC handlers and the scenario engine.

The traffic split rules live here once: the UpdateService handler and
:func:`set_split` both go through :func:`validate_split`.

Messages: where the real API's wording is known it is used (deleting a
version with traffic; migration to a flexible version or one without
warmup). The other refusals' wording is the emulator's own choice, worded
in the same style, and marked so where it is raised.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import grpc
from google.cloud.appengine_admin_v1 import types as ae
from google.protobuf import timestamp_pb2

from deployconsole.emulator import audit
from deployconsole.emulator.state import EmulatorState

log = logging.getLogger("deployconsole.emulator.admin")

ShardBy = ae.TrafficSplit.ShardBy

# Decimal places an allocation may carry, by shard_by. UNSPECIFIED is
# treated as IP, which is what the API falls back to.
_DECIMALS = {
    ShardBy.UNSPECIFIED: 2,
    ShardBy.IP: 2,
    ShardBy.COOKIE: 3,
    ShardBy.RANDOM: 3,
}
_SHARD_BY_NAMES: dict[str, Any] = {
    "UNSPECIFIED": ShardBy.UNSPECIFIED,
    "IP": ShardBy.IP,
    "COOKIE": ShardBy.COOKIE,
    "RANDOM": ShardBy.RANDOM,
}
_FLEXIBLE_ENVS = ("flex", "flexible")


@dataclass(frozen=True)
class FieldViolation:
    """One reason a request is refused, as in google.rpc.BadRequest."""

    field: str
    description: str


class AdminError(Exception):
    """A refused admin request: a gRPC status code and the API's message."""

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        violations: tuple[FieldViolation, ...] = (),
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.violations = violations

    def __str__(self) -> str:
        return f"{self.code.name}: {self.message}"


def operation_in_progress(target: str, operation_name: str) -> AdminError:
    """App Engine refuses a change to a resource another operation changes."""
    # The API's own words.
    return AdminError(
        grpc.StatusCode.ABORTED,
        f"Cannot operate on {target} because an operation is already "
        f"in progress for {target} by {operation_name.rpartition('/')[2]}.",
    )


def invalid(violations: list[FieldViolation]) -> AdminError:
    """INVALID_ARGUMENT naming every violation, each a sentence."""
    message = " ".join(violation.description for violation in violations)
    return AdminError(grpc.StatusCode.INVALID_ARGUMENT, message, tuple(violations))


# -- lookups ---------------------------------------------------------------


def get_service(state: EmulatorState, service_id: str) -> ae.Service:
    with state.lock:
        service = state.services.get(service_id)
    if service is None:
        # Wording chosen for the emulator; the real text is not documented.
        raise AdminError(
            grpc.StatusCode.NOT_FOUND,
            f"Service not found: {state.service_name(service_id)}.",
        )
    return service


def get_version(state: EmulatorState, service_id: str, version_id: str) -> ae.Version:
    get_service(state, service_id)
    with state.lock:
        version = state.versions.get(service_id, {}).get(version_id)
    if version is None:
        # Wording chosen for the emulator; the real text is not documented.
        raise AdminError(
            grpc.StatusCode.NOT_FOUND,
            f"Version not found: {state.version_name(service_id, version_id)}.",
        )
    return version


def parse_shard_by(shard_by: str | int | ShardBy) -> ShardBy:
    """``"IP"``, ``"cookie"``, an enum value or its number."""
    if isinstance(shard_by, str):
        shard = _SHARD_BY_NAMES.get(shard_by.strip().upper())
        if shard is None:
            names = ", ".join(_SHARD_BY_NAMES)
            raise AdminError(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"Unknown shard_by {shard_by!r}; expected one of {names}.",
            )
        return shard
    return ShardBy(shard_by)


# -- the split rules --------------------------------------------------------


def validate_split(
    state: EmulatorState,
    service_id: str,
    allocations: Mapping[str, float],
    shard_by: str | int | ShardBy,
    migrate: bool,
) -> None:
    """Raise :class:`AdminError` if the split may not be applied as asked.

    All violations are reported together, as the API does.
    """
    shard = parse_shard_by(shard_by)
    get_service(state, service_id)
    with state.lock:
        versions = dict(state.versions.get(service_id, {}))

    field = "service.split.allocations"
    violations: list[FieldViolation] = []
    if not allocations:
        # Wording chosen for the emulator.
        violations.append(
            FieldViolation(field, "The traffic split must name at least one version.")
        )
    decimals = _DECIMALS[shard]
    for version_id, fraction in allocations.items():
        where = f"{field}[{version_id}]"
        if version_id not in versions:
            # Wording chosen for the emulator; the API's text is not documented.
            violations.append(
                FieldViolation(
                    where,
                    f"Version [{version_id}] does not exist in service [{service_id}].",
                )
            )
        if not 0.0 < fraction <= 1.0:
            violations.append(
                FieldViolation(
                    where,
                    f"Allocation {fraction:g} for version [{version_id}] is outside "
                    "(0, 1].",
                )
            )
        elif abs(fraction - round(fraction, decimals)) > 1e-9:
            violations.append(
                FieldViolation(
                    where,
                    f"Allocation {fraction!r} for version [{version_id}] has more "
                    f"than {decimals} decimal places, the most a split by "
                    f"{_shard_name(shard)} supports.",
                )
            )
    total = sum(allocations.values())
    if allocations and abs(total - 1.0) > 1e-6:
        violations.append(
            FieldViolation(
                field,
                f"The traffic split allocations must sum to 1 (they sum to {total:g}).",
            )
        )
    if migrate:
        violations.extend(_migration_violations(service_id, allocations, versions))
    if violations:
        raise invalid(violations)


def _shard_name(shard: ShardBy) -> str:
    return "IP" if shard == ShardBy.UNSPECIFIED else shard.name


def _migration_violations(
    service_id: str, allocations: Mapping[str, float], versions: dict[str, ae.Version]
) -> list[FieldViolation]:
    violations: list[FieldViolation] = []
    if len(allocations) > 1:
        # Wording chosen for the emulator: the API refuses, text unknown.
        violations.append(
            FieldViolation(
                "service.split.allocations",
                "Traffic migration requires a single target version; "
                f"{len(allocations)} were given.",
            )
        )
    for version_id in allocations:
        version = versions.get(version_id)
        if version is None:
            continue
        where = f"service.split.allocations[{version_id}]"
        if version.env in _FLEXIBLE_ENVS or version.vm:
            # The API's own words.
            violations.append(
                FieldViolation(
                    "service",
                    "Traffic migration does not support App Engine Flexible "
                    "Environment.",
                )
            )
            continue
        if ae.Version.pb(version).WhichOneof("scaling") not in (
            None,
            "automatic_scaling",
        ):
            # Wording chosen for the emulator: the API refuses, text unknown.
            violations.append(
                FieldViolation(
                    where,
                    f"Traffic migration requires automatic scaling; version "
                    f"[{version_id}] of service [{service_id}] does not use it.",
                )
            )
        if ae.InboundServiceType.INBOUND_SERVICE_WARMUP not in version.inbound_services:
            # The API's own words.
            violations.append(
                FieldViolation(
                    where,
                    "Warmup requests must be enabled for all versions that will "
                    "gain additional traffic as a result of the traffic migration.",
                )
            )
    return violations


def apply_split(
    state: EmulatorState,
    service_id: str,
    allocations: Mapping[str, float],
    shard_by: ShardBy,
) -> ae.Service:
    """Make ``allocations`` the live split; returns a copy of the service."""
    with state.lock:
        service = get_service(state, service_id)
        service.split = ae.TrafficSplit(
            shard_by=shard_by, allocations=dict(allocations)
        )
        return ae.Service(service)


def split_request(
    state: EmulatorState,
    service_id: str,
    allocations: Mapping[str, float],
    shard_by: ShardBy,
    migrate: bool,
) -> ae.UpdateServiceRequest:
    """The UpdateService request that asks for this split."""
    request = ae.UpdateServiceRequest(
        name=state.service_name(service_id),
        service=ae.Service(
            split=ae.TrafficSplit(shard_by=shard_by, allocations=dict(allocations))
        ),
        migrate_traffic=migrate,
    )
    ae.UpdateServiceRequest.pb(request).update_mask.paths.append("split")
    return request


def set_split(
    state: EmulatorState,
    service_id: str,
    allocations: dict[str, float],
    *,
    shard_by: str = "IP",
    migrate: bool = False,
    principal: str | None = None,
) -> None:
    """Change a split at once (no operation), as the scenario's "someone"
    does; validated like UpdateService, refused like it (ABORTED) while an
    operation changes the service, and written to the audit log."""
    shard = parse_shard_by(shard_by)
    with state.lock:
        target = state.service_name(service_id)
        running = state.running_operations.get(target)
        if running is not None:
            # As UpdateService is refused; else the running one, when it
            # ends, would overwrite this change.
            raise operation_in_progress(target, running)
        validate_split(state, service_id, allocations, shard, migrate)
        before = ae.Service(get_service(state, service_id))
        apply_split(state, service_id, allocations, shard)
    log.info(
        "Split of service %s set to %s by %s.",
        service_id,
        allocations,
        principal or state.config.principal_email,
    )
    audit.record(
        state,
        "Services.UpdateService",
        state.service_name(service_id),
        split_request(state, service_id, allocations, shard, migrate),
        service_id=service_id,
        principal=principal,
        original=before,
    )


# -- deploying ----------------------------------------------------------------


def timestamp(seconds: float) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromNanoseconds(int(round(seconds * 1e9)))
    return stamp


def create_version(
    state: EmulatorState,
    service_id: str,
    version: ae.Version,
    *,
    principal: str | None = None,
) -> ae.Version:
    """Deploy ``version`` into ``service_id``, as ``gcloud app deploy
    --no-promote`` does; a new service gets all its traffic on this version.

    Fills name, create_time (when not given), created_by, version_url and serving_status
    (SERVING unless given). Deploying an existing version id replaces that
    version, as App Engine does. Returns a copy of the stored version.
    """
    if not version.id:
        raise invalid([FieldViolation("version.id", "A version id is required.")])
    if not service_id:
        raise invalid([FieldViolation("parent", "A service id is required.")])
    user = principal or state.config.principal_email
    stored = ae.Version(version)
    stored.name = state.version_name(service_id, version.id)
    stored.created_by = user
    if not ae.Version.pb(stored).HasField("create_time"):
        # A scenario may deploy versions "in the past" (their ids are
        # gcloud's timestamps); anything else is deployed now.
        stored.create_time = timestamp(state.clock.now())
    stored.version_url = state.version_url(service_id, version.id)
    if stored.serving_status == ae.ServingStatus.SERVING_STATUS_UNSPECIFIED:
        stored.serving_status = ae.ServingStatus.SERVING  # type: ignore[assignment]

    with state.lock:
        new_service = service_id not in state.services
        if new_service:
            state.services[service_id] = ae.Service(
                name=state.service_name(service_id),
                id=service_id,
                split=ae.TrafficSplit(allocations={version.id: 1.0}),
            )
        previous = state.versions.get(service_id, {}).get(version.id)
        replaced = ae.Version(previous) if previous is not None else None
        state.versions.setdefault(service_id, {})[version.id] = stored
        result = ae.Version(stored)

    log.info(
        "Version %s of service %s %s by %s%s.",
        version.id,
        service_id,
        "redeployed" if replaced is not None else "deployed",
        user,
        " (new service, all traffic)" if new_service else "",
    )
    audit.record(
        state,
        "Versions.CreateVersion",
        stored.name,
        ae.CreateVersionRequest(parent=state.service_name(service_id), version=version),
        service_id=service_id,
        version_id=version.id,
        principal=principal,
        original=replaced,
    )
    return result
