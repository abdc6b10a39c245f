"""Normalise raw protobuf LogEntry messages into core log records.

The live tail hands over ``google.logging.v2.LogEntry`` messages; reading
fields through the proto-plus wrappers is about ten times slower than
through the raw protobuf message, so this module reads the raw one
(``type(msg).pb(msg)`` for a wrapper). A request log's protoPayload is
unpacked with the published RequestLog message; fields it does not know are
kept as unknown fields by protobuf and ignored here.

It mirrors :func:`deployconsole.core.logentry.record_from_json` field for
field, so the same entry gives the same record from either form.

FIXME(perf): even so, the field reads cost two to four times the decode
itself (see bench/bench_ingest.py).
"""

from __future__ import annotations

from typing import Any

from google.cloud.appengine_logging_v1.types import RequestLog
from google.cloud.logging_v2.types import LogEntry
from google.protobuf.message import Message

from deployconsole.core.logentry import (
    JSON_TRACE_FIELDS,
    KIND_JSON,
    KIND_PROTO,
    KIND_REQUEST,
    KIND_TEXT,
    REQUEST_LOG_TYPE,
    SEVERITY_BY_NUMBER,
    LogRecord,
    RequestLine,
    build_record,
)

LOG_ENTRY_PB: Any = LogEntry.pb()
REQUEST_LOG_PB: Any = RequestLog.pb()
_REQUEST_LOG_SUFFIX = "/" + REQUEST_LOG_TYPE
_severity_name = SEVERITY_BY_NUMBER.get


def raw_entry(message: Any) -> Any:
    """The raw protobuf LogEntry for a raw or proto-plus message."""
    if isinstance(message, Message):
        return message
    return type(message).pb(message)


def record_from_pb(message: Any) -> LogRecord:
    """The record for one LogEntry message (raw protobuf or proto-plus)."""
    pb = message if isinstance(message, Message) else type(message).pb(message)
    # Every attribute read on a protobuf message costs (more than the whole
    # decode, summed up): read each once, and only what the entry can have.
    resource = pb.resource
    resource_labels = resource.labels
    labels = pb.labels
    service = version = instance = ""
    if resource_labels:
        service = resource_labels.get("module_id", "")
        version = resource_labels.get("version_id", "")
    trace = pb.trace
    if labels:
        instance = labels.get("clone_id", "")
        if not trace:
            trace = labels.get("appengine.googleapis.com/trace_id", "")
    timestamp = _time(pb.timestamp) if pb.HasField("timestamp") else None
    head = (
        pb.insert_id,
        timestamp,
        pb.log_name,
        _severity_name(pb.severity, ""),
    )
    payload = pb.WhichOneof("payload")
    if payload == "proto_payload":
        packed = pb.proto_payload
        if packed.type_url.endswith(_REQUEST_LOG_SUFFIX):
            log = REQUEST_LOG_PB.FromString(packed.value)
            return _request_record(
                pb, log, head, service, version, instance, trace, resource.type
            )
    method, path, status, latency = _http(pb)
    if payload == "text_payload":
        return build_record(
            *head, service, version, instance, trace, method, path, status,
            latency, KIND_TEXT, resource.type, pb.text_payload,
        )  # fmt: skip
    if payload != "json_payload":
        kind = KIND_PROTO if payload == "proto_payload" else ""
        return build_record(
            *head, service, version, instance, trace, method, path, status,
            latency, kind, resource.type,
        )  # fmt: skip
    fields = pb.json_payload.fields
    traces = [_string(fields, name) for name in JSON_TRACE_FIELDS if name in fields]
    context = _struct(fields, "serviceContext")
    if context is not None:
        service = service or _string(context, "service")
        version = version or _string(context, "version")
    request = _struct(fields, "context")
    request = _struct(request, "httpRequest") if request is not None else None
    if request is not None:
        method = method or _string(request, "method")
        path = path or _string(request, "url")
        if status is None:
            code = request.get("responseStatusCode")
            if code is not None and code.WhichOneof("kind") == "number_value":
                status = int(code.number_value) or None
    return build_record(
        *head, service, version, instance, trace, method, path, status, latency,
        KIND_JSON, resource.type, "", _string(fields, "message"), traces,
    )  # fmt: skip


def _http(pb: Any) -> tuple[str, str, int | None, float | None]:
    if not pb.HasField("http_request"):
        return "", "", None, None
    http = pb.http_request
    latency = _time(http.latency) if http.HasField("latency") else None
    return http.request_method, http.request_url, http.status or None, latency


def _request_record(
    pb: Any,
    log: Any,
    head: tuple[str, float | None, str, str],
    service: str,
    version: str,
    instance: str,
    trace: str,
    resource_type: str,
) -> LogRecord:
    method = log.method
    path = log.resource
    status = log.status or None
    latency = _time(log.latency) if log.HasField("latency") else None
    if not method or not path or status is None or latency is None:
        http = _http(pb)
        method = method or http[0]
        path = path or http[1]
        status = http[2] if status is None else status
        latency = http[3] if latency is None else latency
    lines: list[RequestLine] = []
    app_lines = log.line
    if len(app_lines):
        for line in app_lines:
            time = line.time
            lines.append(
                (
                    _severity_name(line.severity, ""),
                    (time.seconds, time.nanos),
                    line.log_message,
                )
            )
    return build_record(
        *head,
        service or log.module_id,
        version or log.version_id,
        instance or log.instance_id,
        trace, method, path, status, latency, KIND_REQUEST, resource_type,
        "", "", (), lines,
    )  # fmt: skip


def _time(value: Any) -> float:
    return value.seconds + value.nanos / 1e9


def _string(fields: Any, key: str) -> str:
    value = fields.get(key)
    if value is None or value.WhichOneof("kind") != "string_value":
        return ""
    return str(value.string_value)


def _struct(fields: Any, key: str) -> Any:
    value = fields.get(key)
    if value is None or value.WhichOneof("kind") != "struct_value":
        return None
    return value.struct_value.fields
