"""Read a LogEntry in its JSON form (camelCase, as gcloud and REST print it).

:func:`record_from_json` checks the types of the fields it reads, so that
JSON which is not a LogEntry gets a clear :class:`EntryError`, and hands
them to :func:`deployconsole.core.logentry.build_record`, like the protobuf
reader does. Import it from :mod:`deployconsole.core.logentry`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from deployconsole.core.logentry import (
    JSON_TRACE_FIELDS,
    KIND_JSON,
    KIND_PROTO,
    KIND_REQUEST,
    KIND_TEXT,
    REQUEST_LOG_TYPE,
    SEVERITY_BY_NUMBER,
    SEVERITY_RANK,
    EntryError,
    LogRecord,
    RequestLine,
    build_record,
)

_ENTRY_KEYS = frozenset(
    {
        "logName",
        "insertId",
        "timestamp",
        "resource",
        "textPayload",
        "jsonPayload",
        "protoPayload",
        "severity",
    }
)
_RFC3339 = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?"
    r"(?:([Zz])|([+-])(\d\d):(\d\d))$"
)
_DURATION = re.compile(r"(-)?(\d+)(?:\.(\d{1,9}))?s$")


def record_from_json(entry: object) -> LogRecord:
    """The record for one LogEntry in its JSON form (camelCase fields).

    Unknown fields are ignored (real request logs carry a ``spanId`` the
    published RequestLog lacks). Raises :class:`EntryError` for JSON that is
    not a LogEntry.
    """
    if not isinstance(entry, Mapping):
        raise EntryError(f"expected a LogEntry object, got {_json_kind(entry)}")
    if not _ENTRY_KEYS.intersection(entry):
        raise EntryError(
            "not a LogEntry: none of logName, insertId, timestamp, resource, "
            "severity, textPayload, jsonPayload or protoPayload"
        )
    resource = _map(entry, "resource")
    resource_labels = _map(resource, "labels", "resource.labels")
    labels = _map(entry, "labels")
    http = _map(entry, "httpRequest")
    stamp = _str(entry, "timestamp")

    fields: dict[str, Any] = {
        "insert_id": _str(entry, "insertId"),
        "timestamp": parse_rfc3339(stamp, "timestamp") if stamp else None,
        "log_name": _str(entry, "logName"),
        "severity": _severity(entry.get("severity")),
        "service": _str(resource_labels, "module_id", "resource.labels.module_id"),
        "version": _str(resource_labels, "version_id", "resource.labels.version_id"),
        "instance": _str(labels, "clone_id", "labels.clone_id"),
        "trace": _str(entry, "trace")
        or _str(labels, "appengine.googleapis.com/trace_id", "labels"),
        "method": _str(http, "requestMethod", "httpRequest.requestMethod"),
        "path": _str(http, "requestUrl", "httpRequest.requestUrl"),
        "status": _int(http, "status", "httpRequest.status"),
        "latency": _duration(http, "latency", "httpRequest.latency"),
        "resource_type": _str(resource, "type", "resource.type"),
    }
    if "textPayload" in entry:
        fields["kind"] = KIND_TEXT
        fields["text"] = _str(entry, "textPayload")
    elif "jsonPayload" in entry:
        _read_json_payload(_map(entry, "jsonPayload"), fields)
    elif "protoPayload" in entry:
        _read_proto_payload(_map(entry, "protoPayload"), fields)
    return build_record(**fields)


def _read_json_payload(payload: Mapping[str, Any], fields: dict[str, Any]) -> None:
    fields["kind"] = KIND_JSON
    fields["json_message"] = _text_value(payload.get("message"))
    fields["json_traces"] = [
        _text_value(payload[name]) for name in JSON_TRACE_FIELDS if name in payload
    ]
    context = payload.get("serviceContext")
    if isinstance(context, Mapping):
        fields["service"] = fields["service"] or _text_value(context.get("service"))
        fields["version"] = fields["version"] or _text_value(context.get("version"))
    request = payload.get("context")
    request = request.get("httpRequest") if isinstance(request, Mapping) else None
    if isinstance(request, Mapping):
        fields["method"] = fields["method"] or _text_value(request.get("method"))
        fields["path"] = fields["path"] or _text_value(request.get("url"))
        if fields["status"] is None:
            fields["status"] = _number(request.get("responseStatusCode"))


def _read_proto_payload(payload: Mapping[str, Any], fields: dict[str, Any]) -> None:
    type_url = _str(payload, "@type", "protoPayload.@type")
    if not type_url.endswith("/" + REQUEST_LOG_TYPE):
        fields["kind"] = KIND_PROTO
        return
    fields["kind"] = KIND_REQUEST
    where = "protoPayload."
    fields["service"] = fields["service"] or _str(payload, "moduleId", where)
    fields["version"] = fields["version"] or _str(payload, "versionId", where)
    fields["instance"] = fields["instance"] or _str(payload, "instanceId", where)
    fields["method"] = _str(payload, "method", where) or fields["method"]
    fields["path"] = _str(payload, "resource", where) or fields["path"]
    status = _int(payload, "status", where + "status")
    fields["status"] = status if status is not None else fields["status"]
    latency = _duration(payload, "latency", where + "latency")
    fields["latency"] = latency if latency is not None else fields["latency"]
    lines = payload.get("line", [])
    if not isinstance(lines, list):
        raise EntryError("protoPayload.line is not a list")
    request_lines: list[RequestLine] = []
    for n, line in enumerate(lines):
        line = line if isinstance(line, Mapping) else {}
        name = f"protoPayload.line[{n}]"
        request_lines.append(
            (
                _severity(line.get("severity")),
                _str(line, "time", name + ".time"),
                _str(line, "logMessage", name + ".logMessage"),
            )
        )
    fields["request_lines"] = request_lines


def parse_rfc3339(text: str, name: str = "time") -> float:
    """Epoch seconds for an RFC 3339 time, nanosecond digits kept."""
    match = _RFC3339.match(text)
    if match is None:
        raise EntryError(f"{name} is not an RFC 3339 time: {text[:40]!r}")
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction = match.group(7) or ""
    seconds = (
        _days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60
    ) + second
    if match.group(9):
        offset = int(match.group(10)) * 3600 + int(match.group(11)) * 60
        seconds -= offset if match.group(9) == "+" else -offset
    return seconds + int(fraction.ljust(9, "0")) / 1e9


def parse_duration(text: str, name: str = "duration") -> float:
    """Seconds for a protobuf JSON duration such as ``"1.203418s"``."""
    match = _DURATION.match(text)
    if match is None:
        raise EntryError(f"{name} is not a duration: {text[:40]!r}")
    seconds = int(match.group(2))
    nanos = int((match.group(3) or "").ljust(9, "0"))
    if match.group(1):
        seconds, nanos = -seconds, -nanos
    return seconds + nanos / 1e9


def _days_from_civil(year: int, month: int, day: int) -> int:
    # Days since 1970-01-01 in the proleptic Gregorian calendar.
    year -= month <= 2
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100
    return era * 146097 + day_of_era + day_of_year - 719468


def _json_kind(value: object) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return "a number" if isinstance(value, int | float) else type(value).__name__


def _map(parent: Mapping[str, Any], key: str, name: str = "") -> Mapping[str, Any]:
    value = parent.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise EntryError(f"{name or key} is {_json_kind(value)}, not an object")
    return value


def _str(parent: Mapping[str, Any], key: str, name: str = "") -> str:
    value = parent.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise EntryError(f"{name or key} is {_json_kind(value)}, not a string")
    return value


def _int(parent: Mapping[str, Any], key: str, name: str) -> int | None:
    value = parent.get(key)
    if value is None:
        return None
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise EntryError(f"{name} is {_json_kind(value)}, not a number")
    # Protobuf cannot tell 0 from unset, so neither do we.
    return value or None


def _number(value: object) -> int | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value) or None
    return None


def _duration(parent: Mapping[str, Any], key: str, name: str) -> float | None:
    text = _str(parent, key, name)
    return parse_duration(text, name) if text else None


def _severity(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, int) and not isinstance(value, bool):
        if value in SEVERITY_BY_NUMBER:
            return SEVERITY_BY_NUMBER[value]
    elif isinstance(value, str) and value.upper() in SEVERITY_RANK:
        upper = value.upper()
        return "" if upper == "DEFAULT" else upper
    raise EntryError(f"severity {value!r} is not a LogSeverity")


def _text_value(value: object) -> str:
    return value if isinstance(value, str) else ""
