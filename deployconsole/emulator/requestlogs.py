"""Log entries for one served request, shaped as App Engine writes them.

python27 requests: one request log whose ``line[]`` holds the app's log
lines, tracebacks included; its severity is the highest of its lines' and
of what the status says. python3 requests: a request log without app
lines and without severity (as the second-generation runtimes write it),
plus stderr ``textPayload`` entries from the same instance a moment later
for any traceback, some split across entries the way log agents split them.

Entries are raw ``google.logging.v2.LogEntry`` messages with insert_id left
empty for the log store to fill.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any

from google.cloud.appengine_logging_v1.types import LogLine, RequestLog
from google.cloud.logging_v2.types import LogEntry
from google.logging.type import log_severity_pb2

from deployconsole.emulator import tracebacks_corpus as corpus
from deployconsole.emulator.behaviours import PYTHON27, Failure

RawLogEntry: Any = LogEntry.pb()
RawRequestLog: Any = RequestLog.pb()
RawLogLine: Any = LogLine.pb()

REQUEST_LOG = "appengine.googleapis.com%2Frequest_log"
# Second-generation runtimes (python3x) write stderr to a log named plainly
# "stderr", as recorded exports show.
STDERR_LOG = "stderr"

DEBUG = log_severity_pb2.DEBUG
INFO = log_severity_pb2.INFO
WARNING = log_severity_pb2.WARNING
ERROR = log_severity_pb2.ERROR

LOADING_MESSAGE = (
    "This request caused a new process to be started for your application, "
    "and thus caused your application code to be loaded for the first time. "
    "This request may thus take longer and use more CPU than a typical "
    "request for your application."
)
_PY27_TRACEBACKS = {
    Failure.IMPORT: corpus.PY27_IMPORT_FAILURE,
    Failure.KEY_ERROR: corpus.PY27_KEY_ERROR,
    Failure.DB_ERROR: corpus.PY27_DB_ERROR,
    Failure.TIMEOUT: corpus.PY27_TIMEOUT,
}
_PY3_TRACEBACKS = {
    Failure.KEY_ERROR: corpus.PY3_KEY_ERROR,
    Failure.DB_ERROR: corpus.PY3_DB_ERROR,
    Failure.TIMEOUT: corpus.PY3_TIMEOUT,
}
# Lines after which a log agent may cut a python3 traceback: the preamble
# ends at the first line, a chained exception starts at its separator.
_CHAIN_SEPARATORS = (
    "During handling of the above exception, another exception occurred:",
    "The above exception was the direct cause of the following exception:",
)


@dataclass(frozen=True)
class RequestRecord:
    """Everything about one request, drawn when it arrived.

    ``start`` and ``latency`` are seconds (epoch and duration); the entries
    are built from this alone, so building them later changes nothing.
    """

    service: str
    version: str
    runtime: str
    method: str
    path: str
    start: float
    latency: float
    status: int
    instance_id: str
    loading: bool
    failure: Failure | None
    values: tuple[tuple[str, str], ...]
    request_bits: int
    trace_id: str
    span_id: int
    ip: str
    user_agent: str
    response_size: int
    info_line: str
    # How many stderr entries a python3 traceback is cut into (1 to 3).
    stderr_parts: int
    # Whether the log agent gave the stderr entries ERROR severity.
    stderr_error: bool
    pid: int

    @property
    def end(self) -> float:
        return self.start + self.latency


def _stamp(target: Any, seconds: float) -> None:
    target.FromNanoseconds(int(round(seconds * 1e9)))


def _hexed(text: str) -> str:
    return text.encode().hex()


def request_id(project: str, record: RequestRecord) -> str:
    """An id shaped like App Engine's: start second, random, app, version."""
    return (
        f"{int(record.start):08x}00ff00ff{record.request_bits:012x}0001"
        f"{_hexed('~' + project)}0001{_hexed(record.version)}000100"
    )


def app_root(project: str, service: str, version: str) -> str:
    """Where python27 deploys an app: the version id and a deployment number."""
    digest = hashlib.sha1(f"{project}/{service}/{version}".encode()).hexdigest()
    deployment = int(digest[:15], 16) % 10**18
    return f"/base/data/home/apps/s~{project}/{version}.{deployment:018d}"


def host(project: str, service: str) -> str:
    if service == "default":
        return f"{project}.uc.r.appspot.com"
    return f"{service}-dot-{project}.uc.r.appspot.com"


def zone(location_id: str) -> str:
    region = {"us-central": "us-central1", "europe-west": "europe-west1"}
    return region.get(location_id, location_id) + "-1"


def _base_entry(project: str, zone_name: str, record: RequestRecord, log: str) -> Any:
    entry = RawLogEntry()
    entry.log_name = f"projects/{project}/logs/{log}"
    entry.resource.type = "gae_app"
    labels = entry.resource.labels
    labels["project_id"] = project
    labels["module_id"] = record.service
    labels["version_id"] = record.version
    labels["zone"] = zone_name
    if record.runtime != PYTHON27 and record.instance_id:
        entry.labels["clone_id"] = record.instance_id
    return entry


def build_entries(project: str, zone_name: str, record: RequestRecord) -> list[Any]:
    """The request log and, for python3, the stderr entries of one request."""
    entries = [_request_log(project, zone_name, record)]
    if record.runtime != PYTHON27 and record.failure is not None:
        entries.extend(_stderr_entries(project, zone_name, record))
    return entries


def _request_log(project: str, zone_name: str, record: RequestRecord) -> Any:
    rid = request_id(project, record)
    payload = RawRequestLog()
    payload.app_id = f"s~{project}"
    # The real request log leaves moduleId empty for the default service.
    if record.service != "default":
        payload.module_id = record.service
    payload.version_id = record.version
    payload.request_id = rid
    payload.ip = record.ip
    _stamp(payload.start_time, record.start)
    _stamp(payload.end_time, record.end)
    _stamp(payload.latency, record.latency)
    payload.mega_cycles = int(record.latency * 2400) + 120
    payload.method = record.method
    payload.resource = record.path
    payload.http_version = "HTTP/1.1"
    payload.status = record.status
    payload.response_size = record.response_size
    payload.user_agent = record.user_agent
    payload.url_map_entry = "main.app" if record.runtime == PYTHON27 else "auto"
    payload.host = host(project, record.service)
    payload.was_loading_request = record.loading
    payload.instance_index = -1
    payload.finished = True
    payload.first = True
    payload.instance_id = record.instance_id
    payload.app_engine_release = "1.9.71"
    payload.trace_id = record.trace_id
    payload.trace_sampled = record.runtime != PYTHON27

    severity = 0
    if record.runtime == PYTHON27:
        for line_severity, offset, message in _py27_lines(project, record):
            line = payload.line.add()
            _stamp(line.time, record.start + offset)
            line.severity = line_severity
            line.log_message = message
            severity = max(severity, line_severity)
        # A failed request is at least an error even when the app logged
        # nothing (the front end answered, e.g. for a stopped version).
        if record.status >= 500:
            severity = max(severity, ERROR)
        elif record.status >= 400:
            severity = max(severity, WARNING)

    entry = _base_entry(project, zone_name, record, REQUEST_LOG)
    _stamp(entry.timestamp, record.start)
    entry.proto_payload.Pack(payload)
    entry.http_request.status = record.status
    if severity:
        entry.severity = severity
    entry.trace = f"projects/{project}/traces/{record.trace_id}"
    entry.span_id = str(record.span_id)
    entry.operation.id = rid
    entry.operation.producer = "appengine.googleapis.com/request_id"
    entry.operation.first = True
    entry.operation.last = True
    return entry


def _render(record: RequestRecord, template: str, **placeholders: str) -> str:
    text = corpus.render(template, **placeholders)
    for recorded, value in record.values:
        text = text.replace(recorded, value)
    return text


def _py27_lines(project: str, record: RequestRecord) -> list[tuple[int, float, str]]:
    """(severity, seconds after start, message) of the app's log lines."""
    lines: list[tuple[int, float, str]] = []
    if record.failure is None and record.info_line and record.status < 500:
        lines.append((INFO, record.latency * 0.3, record.info_line))
    if record.failure is not None:
        root = app_root(project, record.service, record.version)
        text = _render(record, _PY27_TRACEBACKS[record.failure], app_root=root)
        lines.append((ERROR, record.latency * 0.98, text))
    if record.loading:
        lines.append((INFO, record.latency * 0.99, LOADING_MESSAGE))
    return lines


def _stderr_entries(project: str, zone_name: str, record: RequestRecord) -> list[Any]:
    failure = record.failure
    if failure is None:
        return []
    logged_at = record.end - 0.002
    if failure is Failure.IMPORT:
        texts = _gunicorn_boot_failure(record, logged_at)
    else:
        asctime = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(logged_at))
        millis = int((logged_at % 1) * 1000)
        text = _render(
            record, _PY3_TRACEBACKS[failure], asctime=f"{asctime},{millis:03d}"
        )
        texts = split_traceback(text, record.stderr_parts)

    entries = []
    for index, text in enumerate(texts):
        entry = _base_entry(project, zone_name, record, STDERR_LOG)
        # Pieces of one write reach the agent microseconds apart.
        _stamp(entry.timestamp, logged_at + index * 0.000137)
        entry.text_payload = text
        if record.stderr_error and index == 0:
            entry.severity = ERROR
        entries.append(entry)
    return entries


def _gunicorn_boot_failure(record: RequestRecord, logged_at: float) -> list[str]:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S +0000", time.gmtime(logged_at))
    values = {
        "gunicorn_time": stamp,
        "pid": str(record.pid + 1),
        "master_pid": str(record.pid),
    }
    boot = corpus.render(corpus.PY3_IMPORT_FAILURE, **values)
    followups = [
        corpus.render(line, **values) for line in corpus.PY3_IMPORT_FAILURE_FOLLOWUPS
    ]
    return [boot, *followups]


def split_traceback(text: str, parts: int) -> list[str]:
    """Cut ``text`` into up to ``parts`` pieces where a log agent cuts it.

    The agent ends an entry after the preamble line and before a chained
    exception's separator; blank lines at the cuts are dropped, as it does.
    """
    lines = text.split("\n")
    cuts = []
    if len(lines) > 1 and not lines[0].startswith("Traceback"):
        cuts.append(1)
    cuts.extend(i for i, line in enumerate(lines) if line in _CHAIN_SEPARATORS)
    cuts = sorted(set(cuts))[: max(parts - 1, 0)]
    pieces = []
    start = 0
    for cut in [*cuts, len(lines)]:
        piece = "\n".join(lines[start:cut]).strip("\n")
        if piece:
            pieces.append(piece)
        start = cut
    return pieces
