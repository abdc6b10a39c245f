"""The normalised log entry: one value per Cloud Logging LogEntry.

Two readers produce it: :func:`record_from_json` (in ``logentry_json``,
re-exported here), for the JSON that ``gcloud logging read --format=json``
and the REST API print, and
``deployconsole.gcp.entries.record_from_pb`` for raw protobuf entries from
the live tail. Both hand the fields they read to :func:`build_record`, so
the same entry gives the same value either way.

Times are float seconds since the epoch (UTC), computed as
``seconds + nanos / 1e9`` on both paths so that they compare equal.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from deployconsole.core.traceback_model import Traceback, frozen_maker
from deployconsole.core.tracebacks import might_contain_traceback, parse_tracebacks

# Cloud Logging rejects entries over 256 KB, so producers and agents cut
# text that would not fit; text this long was probably cut at its end.
# FIXME(truncation): a size heuristic; an entry that is exactly this long
# by chance is taken as cut too.
CUT_BYTES = 250_000

SEVERITY_BY_NUMBER = {
    0: "",
    100: "DEBUG",
    200: "INFO",
    300: "NOTICE",
    400: "WARNING",
    500: "ERROR",
    600: "CRITICAL",
    700: "ALERT",
    800: "EMERGENCY",
}
SEVERITY_RANK = {name: number for number, name in SEVERITY_BY_NUMBER.items()}
SEVERITY_RANK["DEFAULT"] = 0
ERROR_SEVERITIES = frozenset({"ERROR", "CRITICAL", "ALERT", "EMERGENCY"})

KIND_REQUEST = "request"
KIND_TEXT = "text"
KIND_JSON = "json"
KIND_PROTO = "proto"

REQUEST_LOG_TYPE = "google.appengine.logging.v1.RequestLog"
# Error Reporting reads these jsonPayload fields before "message".
JSON_TRACE_FIELDS = ("stack_trace", "exception", "stackTrace")
SUMMARY_LIMIT = 300


@dataclass(frozen=True, slots=True)
class LogRecord:
    """One log entry, reduced to what the console shows and counts.

    Strings are "" when the entry does not say. ``severity`` is the name
    ("ERROR"), "" for DEFAULT. ``timestamp`` is epoch seconds (UTC), None
    when the entry has none; ``latency`` is seconds. ``kind`` says where the
    text came from: "request" (an App Engine request log, whose app log
    lines form the text), "text", "json", "proto" (another protoPayload).
    ``text`` is the text that was searched for tracebacks, ``summary`` one
    line to show.
    """

    insert_id: str
    timestamp: float | None
    log_name: str
    severity: str
    service: str
    version: str
    instance: str
    trace: str
    method: str
    path: str
    status: int | None
    latency: float | None
    summary: str
    tracebacks: tuple[Traceback, ...]
    text: str
    kind: str = ""
    resource_type: str = ""


def is_error(record: LogRecord) -> bool:
    """Severity ERROR or worse, a 5xx response, or a traceback."""
    return (
        record.severity in ERROR_SEVERITIES
        or (record.status is not None and record.status >= 500)
        or bool(record.tracebacks)
    )


class EntryError(ValueError):
    """JSON that is not a LogEntry; the message says why, for the user."""


RequestLine = tuple[str, Hashable, str]


def build_record(
    insert_id: str,
    timestamp: float | None,
    log_name: str,
    severity: str,
    service: str,
    version: str,
    instance: str,
    trace: str,
    method: str = "",
    path: str = "",
    status: int | None = None,
    latency: float | None = None,
    kind: str = "",
    resource_type: str = "",
    text: str = "",
    json_message: str = "",
    json_traces: Sequence[str] = (),
    request_lines: Sequence[RequestLine] = (),
) -> LogRecord:
    """The record for fields both readers extracted the same way.

    ``request_lines`` are a request log's app lines as (severity, time,
    message); consecutive lines with the same severity and time are joined,
    because the runtime sometimes logs one line per line of a traceback.
    ``json_traces`` are jsonPayload trace fields, searched before
    ``json_message``. Called once per entry on the live tail: keep it lean.
    """
    if request_lines:
        blocks = _join_request_lines(request_lines)
        tracebacks = _parse_blocks(blocks)
        text = blocks[0] if len(blocks) == 1 else "\n".join(blocks)
    elif kind == KIND_JSON and json_traces:
        tracebacks = _parse_blocks(json_traces) or _parse_blocks((json_message,))
        text = "\n".join([t for t in (json_message, *json_traces) if t])
    elif kind == KIND_JSON:
        text = json_message
        tracebacks = _parse_blocks((text,)) if text else ()
    elif text and might_contain_traceback(text):
        tracebacks = _parse_blocks((text,))
    else:
        tracebacks = ()
    if tracebacks:
        summary = tracebacks[-1].headline()
    elif method or status is not None:
        summary = _request_summary(method, path, status, request_lines)
    else:
        summary = text.strip() if "\n" not in text else _first_line(text)
    if len(summary) > SUMMARY_LIMIT:
        summary = summary[: SUMMARY_LIMIT - 1] + "…"
    return _make_record(
        insert_id,
        timestamp,
        log_name,
        severity,
        service,
        version,
        instance,
        trace,
        method,
        path,
        status,
        latency,
        summary,
        tracebacks,
        text,
        kind,
        resource_type,
    )


_make_record = frozen_maker(LogRecord)


def with_text(record: LogRecord, text: str, severity: str) -> LogRecord:
    """The record with other text (joined fragments), parsed afresh."""
    return build_record(
        record.insert_id,
        record.timestamp,
        record.log_name,
        severity,
        record.service,
        record.version,
        record.instance,
        record.trace,
        record.method,
        record.path,
        record.status,
        record.latency,
        record.kind,
        record.resource_type,
        text,
    )


def _join_request_lines(lines: Sequence[RequestLine]) -> list[str]:
    blocks: list[str] = []
    last_key: tuple[str, Hashable] | None = None
    for severity, time, message in lines:
        key = (severity, time)
        if key == last_key:
            blocks[-1] += "\n" + message
        else:
            blocks.append(message)
        last_key = key
    return blocks


def _parse_blocks(blocks: Sequence[str]) -> tuple[Traceback, ...]:
    found: tuple[Traceback, ...] = ()
    for block in blocks:
        if not might_contain_traceback(block):
            continue
        cut = len(block) * 4 >= CUT_BYTES and _utf8_size(block) >= CUT_BYTES
        found += parse_tracebacks(block, cut=cut)
    return found


def _utf8_size(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def _request_summary(
    method: str, path: str, status: int | None, lines: Sequence[RequestLine]
) -> str:
    if method and path and status is not None:
        summary = f"{method} {path} {status}"
    else:
        summary = " ".join(p for p in (method, path, _str_or_empty(status)) if p)
    worst = _worst_line(lines) if lines else ""
    return summary + " · " + worst if worst else summary


def _str_or_empty(value: int | None) -> str:
    return "" if value is None else str(value)


def _worst_line(lines: Sequence[RequestLine]) -> str:
    worst, rank = "", SEVERITY_RANK["WARNING"] - 1
    for severity, _time, message in lines:
        number = SEVERITY_RANK.get(severity, 0)
        if number > rank:
            worst, rank = _first_line(message), number
    return worst


def _first_line(text: str) -> str:
    start = 0
    while True:
        end = text.find("\n", start)
        line = text[start:] if end < 0 else text[start:end]
        if line.strip() or end < 0:
            return line.strip()
        start = end + 1


# The JSON reader lives in its own module (it imports this one).


def record_from_json(entry: object) -> LogRecord:
    """The record for one LogEntry in its JSON form (camelCase fields).

    Unknown fields are ignored (real request logs carry a ``spanId`` the
    published RequestLog lacks). Raises :class:`EntryError` for JSON that is
    not a LogEntry.
    """
    from deployconsole.core import logentry_json

    return logentry_json.record_from_json(entry)


def parse_rfc3339(text: str, name: str = "time") -> float:
    """Epoch seconds for an RFC 3339 time, nanosecond digits kept."""
    from deployconsole.core import logentry_json

    return logentry_json.parse_rfc3339(text, name)


def parse_duration(text: str, name: str = "duration") -> float:
    """Seconds for a protobuf JSON duration such as ``"1.203418s"``."""
    from deployconsole.core import logentry_json

    return logentry_json.parse_duration(text, name)


__all__ = [
    "CUT_BYTES",
    "ERROR_SEVERITIES",
    "KIND_JSON",
    "KIND_PROTO",
    "KIND_REQUEST",
    "KIND_TEXT",
    "SEVERITY_BY_NUMBER",
    "SEVERITY_RANK",
    "EntryError",
    "LogRecord",
    "RequestLine",
    "build_record",
    "is_error",
    "parse_duration",
    "parse_rfc3339",
    "record_from_json",
    "with_text",
]
