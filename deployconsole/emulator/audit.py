"""Cloud Audit Log entries for the emulator's admin mutations.

App Engine writes an Admin Activity entry for every change to a service or
a version when the change is accepted (before its operation finishes), and
another when its operation ends, with the operation's status. The
console reads these entries to learn who changed a split and what it was
before, so each entry carries the request as sent and, where there was one,
the resource as it stood before the change (``resourceOriginalState``).
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import threading
import weakref
from typing import Any

from google.cloud.audit import audit_log_pb2
from google.cloud.logging_v2.types import LogEntry
from google.logging.type import log_severity_pb2
from google.protobuf import any_pb2, json_format, struct_pb2, timestamp_pb2
from google.rpc import status_pb2

from deployconsole.emulator.state import EmulatorState

log = logging.getLogger("deployconsole.emulator.audit")

SERVICE_NAME = "appengine.googleapis.com"
ACTIVITY_LOG = "cloudaudit.googleapis.com%2Factivity"
METHOD_PREFIX = "google.appengine.v1."

# The raw protobuf class: the log store and the tail work on raw messages.
RawLogEntry: Any = LogEntry.pb()

# One sequence per emulator state, so insert ids are the same on every run
# of a seeded scenario (uuid4 ids would differ). EmulatorState is an
# unhashable dataclass, hence keyed by id() and dropped when it is collected.
_sequences: dict[int, itertools.count[int]] = {}
_sequences_lock = threading.Lock()


def _next_sequence(state: EmulatorState) -> int:
    key = id(state)
    with _sequences_lock:
        counter = _sequences.get(key)
        if counter is None:
            counter = itertools.count(1)
            _sequences[key] = counter
            weakref.finalize(state, _sequences.pop, key, None)
        return next(counter)


def message_json(message: Any) -> dict[str, Any]:
    """A proto-plus or raw message in its JSON form, with ``@type`` first."""
    raw = type(message).pb(message) if hasattr(type(message), "pb") else message
    body = json_format.MessageToDict(raw)
    return {"@type": f"type.googleapis.com/{raw.DESCRIPTOR.full_name}", **body}


def _struct(value: dict[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(value)
    return struct


def _timestamp(seconds: float) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromNanoseconds(int(round(seconds * 1e9)))
    return stamp


def audit_entry(
    state: EmulatorState,
    method: str,
    resource_name: str,
    request: Any,
    *,
    service_id: str,
    version_id: str = "",
    principal: str | None = None,
    original: Any = None,
    operation_name: str = "",
) -> Any:
    """Build one raw ``LogEntry`` for an accepted admin call.

    ``method`` is the short RPC path, e.g. ``Services.UpdateService``;
    ``original`` the resource before the change (proto-plus or raw), if any.
    """
    payload = _payload(state, method, resource_name, principal)
    payload.request.CopyFrom(_struct(message_json(request)))
    # Loopback callers only; the real log has the caller's address here.
    payload.request_metadata.caller_ip = "127.0.0.1"
    if original is not None:
        payload.resource_original_state.CopyFrom(_struct(message_json(original)))

    entry = _entry(state, payload, method, service_id, version_id)
    if operation_name:
        entry.operation.id = operation_name
        entry.operation.producer = SERVICE_NAME
        entry.operation.first = True
    return entry


def operation_end_entry(
    state: EmulatorState,
    method: str,
    resource_name: str,
    operation_name: str,
    error: status_pb2.Status | None,
    *,
    principal: str | None = None,
) -> Any:
    """Build the entry written when a change's long-running operation ends.

    Google's audit logging writes two entries for a long-running operation:
    one when it is accepted (``operation.first``, with the request) and one
    when it ends (``operation.last``, with its status). This is the second;
    ``error`` is the operation's error, None when it succeeded.
    """
    parts = resource_name.split("/")
    service_id = parts[3] if len(parts) > 3 and parts[2] == "services" else ""
    version_id = parts[5] if len(parts) > 5 and parts[4] == "versions" else ""
    payload = _payload(state, method, resource_name, principal)
    if error is not None:
        payload.status.CopyFrom(error)
    entry = _entry(state, payload, method, service_id, version_id)
    if error is not None:
        entry.severity = log_severity_pb2.ERROR
    entry.operation.id = operation_name
    entry.operation.producer = SERVICE_NAME
    entry.operation.last = True
    return entry


def _payload(
    state: EmulatorState, method: str, resource_name: str, principal: str | None
) -> audit_log_pb2.AuditLog:
    payload = audit_log_pb2.AuditLog(
        service_name=SERVICE_NAME,
        method_name=METHOD_PREFIX + method,
        resource_name=resource_name,
    )
    payload.authentication_info.principal_email = (
        principal or state.config.principal_email
    )
    return payload


def _entry(
    state: EmulatorState,
    payload: audit_log_pb2.AuditLog,
    method: str,
    service_id: str,
    version_id: str,
) -> Any:
    now = state.clock.now()
    resource_name = payload.resource_name
    entry = RawLogEntry(
        log_name=f"projects/{state.project_id}/logs/{ACTIVITY_LOG}",
        severity=log_severity_pb2.NOTICE,
    )
    entry.resource.type = "gae_app"
    entry.resource.labels["project_id"] = state.project_id
    entry.resource.labels["module_id"] = service_id
    if version_id:
        entry.resource.labels["version_id"] = version_id
    entry.timestamp.CopyFrom(_timestamp(now))
    entry.receive_timestamp.CopyFrom(_timestamp(now))
    entry.insert_id = _insert_id(state, now, method, resource_name)
    packed = any_pb2.Any()
    packed.Pack(payload)
    entry.proto_payload.CopyFrom(packed)
    return entry


def _insert_id(state: EmulatorState, now: float, method: str, resource: str) -> str:
    sequence = _next_sequence(state)
    digest = hashlib.sha1(f"{method}|{resource}|{sequence}".encode()).hexdigest()
    return f"{int(now * 1e6):x}{digest[:8]}"


def write(state: EmulatorState, entry: Any) -> None:
    """Hand one audit entry to the log store."""
    if state.logs is None:
        # Only a state assembled by hand lacks a store; say so, not drop it.
        log.warning(
            "No log store: audit entry %s for %s not written.",
            entry.insert_id,
            entry.proto_payload.type_url,
        )
        return
    state.logs.write([entry])
    log.debug("Audit entry %s written to %s.", entry.insert_id, entry.log_name)


def record(
    state: EmulatorState,
    method: str,
    resource_name: str,
    request: Any,
    **details: Any,
) -> Any:
    """Build and write one audit entry; returns it (tests inspect it)."""
    entry = audit_entry(state, method, resource_name, request, **details)
    write(state, entry)
    return entry
