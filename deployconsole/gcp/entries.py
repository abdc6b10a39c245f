"""Normalise raw protobuf LogEntry messages into core log records.

The live tail hands over ``google.logging.v2.LogEntry`` messages; reading
fields through the proto-plus wrappers is about ten times slower than
through the raw protobuf message, so this module reads the raw one
(``type(msg).pb(msg)`` for a wrapper). A request log's protoPayload is
unpacked with the published RequestLog message; fields it does not know are
kept as unknown fields by protobuf and ignored here.

It mirrors :func:`deployconsole.core.logentry.record_from_json` field for
field, so the same entry gives the same record from either form.

FIXME(perf): even so, the 15 to 30 field reads an entry needs cost three to
five times its decode (each read is 0.15-0.4 us inside upb, whatever the
field), so the bench's second goal is out of reach (bench/bench_ingest.py).
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
_TRACE_LABEL = "appengine.googleapis.com/trace_id"
# jsonPayload keys read besides "message"; most payloads have none of them.
_JSON_KEYS = frozenset((*JSON_TRACE_FIELDS, "serviceContext", "context"))
_severity_name = SEVERITY_BY_NUMBER.get
_decode_request_log = REQUEST_LOG_PB.FromString


def raw_entry(message: Any) -> Any:
    """The raw protobuf LogEntry for a raw or proto-plus message."""
    if isinstance(message, Message):
        return message
    return type(message).pb(message)


def record_from_pb(message: Any) -> LogRecord:
    """The record for one LogEntry message (raw protobuf or proto-plus)."""
    pb = message if isinstance(message, Message) else type(message).pb(message)
    # Every attribute read on a protobuf message costs 100-300 ns (a nested
    # message or map more, the first time): together they cost more than
    # the whole decode. Read each once, and only what the entry can have.
    resource = pb.resource
    resource_labels = resource.labels
    if resource_labels:
        service = resource_labels.get("module_id", "")
        version = resource_labels.get("version_id", "")
    else:
        service = version = ""
    labels = pb.labels
    trace = pb.trace
    instance = ""
    if labels:
        instance = labels.get("clone_id", "")
        if not trace:
            trace = labels.get(_TRACE_LABEL, "")
    stamp = pb.timestamp
    seconds = stamp.seconds
    nanos = stamp.nanos
    # An unset time reads as zero: only then is presence worth a read.
    timestamp = (
        seconds + nanos / 1e9 if seconds or nanos or pb.HasField("timestamp") else None
    )
    insert_id = pb.insert_id
    log_name = pb.log_name
    severity = _severity_name(pb.severity, "")
    payload = pb.WhichOneof("payload")
    if payload == "proto_payload":
        packed = pb.proto_payload
        if packed.type_url.endswith(_REQUEST_LOG_SUFFIX):
            return _request_record(
                pb, _decode_request_log(packed.value), insert_id, timestamp,
                log_name, severity, service, version, instance, trace,
                resource.type,
            )  # fmt: skip
    if pb.HasField("http_request"):
        method, path, status, latency = _http(pb.http_request)
    else:
        method, path, status, latency = "", "", None, None
    if payload == "text_payload":
        return build_record(
            insert_id, timestamp, log_name, severity, service, version,
            instance, trace, method, path, status, latency, KIND_TEXT,
            resource.type, pb.text_payload,
        )  # fmt: skip
    if payload != "json_payload":
        kind = KIND_PROTO if payload == "proto_payload" else ""
        return build_record(
            insert_id, timestamp, log_name, severity, service, version,
            instance, trace, method, path, status, latency, kind, resource.type,
        )  # fmt: skip
    fields = pb.json_payload.fields
    value = fields.get("message")
    message_text = "" if value is None else value.string_value
    traces: list[str] = []
    present = _JSON_KEYS.intersection(fields)
    if present:
        traces = [
            fields[name].string_value for name in JSON_TRACE_FIELDS if name in present
        ]
        context = (
            _struct(fields, "serviceContext") if "serviceContext" in present else None
        )
        if context is not None:
            service = service or _string(context, "service")
            version = version or _string(context, "version")
        request = _struct(fields, "context") if "context" in present else None
        request = _struct(request, "httpRequest") if request is not None else None
        if request is not None:
            method = method or _string(request, "method")
            path = path or _string(request, "url")
            if status is None:
                code = request.get("responseStatusCode")
                if code is not None and code.WhichOneof("kind") == "number_value":
                    status = int(code.number_value) or None
    return build_record(
        insert_id, timestamp, log_name, severity, service, version, instance,
        trace, method, path, status, latency, KIND_JSON, resource.type, "",
        message_text, traces,
    )  # fmt: skip


def _http(http: Any) -> tuple[str, str, int | None, float | None]:
    latency = None
    if http.HasField("latency"):
        value = http.latency
        latency = value.seconds + value.nanos / 1e9
    return http.request_method, http.request_url, http.status or None, latency


def _request_record(
    pb: Any,
    log: Any,
    insert_id: str,
    timestamp: float | None,
    log_name: str,
    severity: str,
    service: str,
    version: str,
    instance: str,
    trace: str,
    resource_type: str,
) -> LogRecord:
    method = log.method
    path = log.resource
    status = log.status or None
    value = log.latency
    seconds = value.seconds
    nanos = value.nanos
    latency = (
        seconds + nanos / 1e9 if seconds or nanos or log.HasField("latency") else None
    )
    if not method or not path or status is None or latency is None:
        if pb.HasField("http_request"):
            http = _http(pb.http_request)
            method = method or http[0]
            path = path or http[1]
            status = http[2] if status is None else status
            latency = http[3] if latency is None else latency
    lines: list[RequestLine] = []
    app_lines = log.line
    if app_lines:
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
        insert_id, timestamp, log_name, severity,
        service or log.module_id,
        version or log.version_id,
        instance or log.instance_id,
        trace, method, path, status, latency, KIND_REQUEST, resource_type,
        "", "", (), lines,
    )  # fmt: skip


def _string(fields: Any, key: str) -> str:
    # A value of another kind reads as "" through string_value.
    value = fields.get(key)
    return "" if value is None else str(value.string_value)


def _struct(fields: Any, key: str) -> Any:
    value = fields.get(key)
    if value is None or value.WhichOneof("kind") != "struct_value":
        return None
    return value.struct_value.fields
