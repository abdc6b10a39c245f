"""The emulator's Logging filters, through the official LoggingServiceV2Client.

A fixed set of entries (named by insert_id) is written once; each row of the
table lists which of them a filter must return from ListLogEntries.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from google.api_core import exceptions
from google.cloud.appengine_logging_v1.types import RequestLog
from google.cloud.audit import audit_log_pb2
from google.cloud.logging_v2.types import LogEntry
from google.rpc import status_pb2

from deployconsole.emulator.filters import compile_filter, parse
from deployconsole.emulator.filters_syntax import (
    Binary,
    Comparison,
    FilterError,
    Literal,
    Not,
)
from deployconsole.emulator.server import Emulator, EmulatorOptions
from deployconsole.gcp.channel import Endpoint, logging_client

PROJECT = "filter-table"
REQUEST_LOG = f"projects/{PROJECT}/logs/appengine.googleapis.com%2Frequest_log"
STDERR_LOG = f"projects/{PROJECT}/logs/stderr"
APP_LOG = f"projects/{PROJECT}/logs/app"
AUDIT_LOG = f"projects/{PROJECT}/logs/cloudaudit.googleapis.com%2Factivity"
BASE = 1_763_456_400  # 2025-11-18T09:00:00Z


def _entry(
    name: str, second: int, log: str, severity: int = 0,
    module: str | None = None, version: str | None = None,
    resource_type: str = "gae_app", labels: dict[str, str] | None = None,
) -> Any:
    entry = LogEntry.pb()(insert_id=name, log_name=log, severity=severity)
    entry.timestamp.seconds = BASE + second
    entry.resource.type = resource_type
    if module:
        entry.resource.labels["module_id"] = module
    if version:
        entry.resource.labels["version_id"] = version
    entry.labels.update(labels or {})
    return entry


def _request(name: str, second: int, status: int, module: str, version: str,
             severity: int, lines: tuple[str, ...] = (), **kw: Any) -> Any:
    entry = _entry(name, second, REQUEST_LOG, severity, module, version, **kw)
    payload = RequestLog.pb()(status=status, module_id=module, version_id=version,
                              method="GET", resource="/")
    for line in lines:
        payload.line.add(log_message=line, severity=severity)
    entry.proto_payload.Pack(payload)
    entry.http_request.status = status
    return entry


def _audit(name: str, second: int, method: str, code: int, severity: int) -> Any:
    entry = _entry(name, second, AUDIT_LOG, severity)
    payload = audit_log_pb2.AuditLog(
        method_name=method,
        resource_name=f"apps/{PROJECT}/services/default",
        status=status_pb2.Status(code=code),
    )
    payload.authentication_info.principal_email = "deployer@example.com"
    entry.proto_payload.Pack(payload)
    return entry


def table_entries() -> list[Any]:
    stderr_tb = _entry("stderr-tb", 3, STDERR_LOG, 500, "api", "v7")
    stderr_tb.text_payload = (
        'Traceback (most recent call last):\n  File "main.py", line 3\n'
        "ValueError: bad input"
    )
    stderr_plain = _entry("stderr-plain", 4, STDERR_LOG, 0, "worker", "v3")
    stderr_plain.text_payload = "Listening on port 8080"
    json_warn = _entry("json-warn", 5, APP_LOG, 400, "worker", "v3")
    json_warn.json_payload.update({
        "message": "Slow query", "latency_ms": 1250, "db": {"table": "orders"},
        "retry": True, "tags": ["db", "slow"], "user": None,
    })
    json_info = _entry("json-info", 6, APP_LOG, 200, "default", "v1")
    json_info.json_payload.update({"message": "cache hit", "latency_ms": 3,
                                   "retry": False})
    critical = _entry("critical", 9, STDERR_LOG, 600, "default", "v2",
                      labels={"instance": "i-2"})
    critical.text_payload = "Out of memory"
    gce = _entry("gce", 10, f"projects/{PROJECT}/logs/syslog", 100,
                 resource_type="gce_instance")
    gce.text_payload = "robot ready"
    return [
        _request("req-ok", 0, 200, "default", "v1", 200, ("Rendering home page",),
                 labels={"instance": "i-1"}),
        _request("req-500", 1, 500, "default", "v2", 500,
                 ("Traceback (most recent call last):", "KeyError: 'user'")),
        _request("req-api-503", 2, 503, "api", "v7", 400),
        stderr_tb, stderr_plain, json_warn, json_info,
        _audit("audit-split", 7, "google.appengine.v1.Services.UpdateService", 0, 300),
        _audit("audit-delete", 8, "google.appengine.v1.Versions.DeleteVersion", 9, 500),
        critical, gce,
    ]


ALL = {e.insert_id for e in table_entries()}
REQUESTS = {"req-ok", "req-500", "req-api-503"}
AUDITS = {"audit-split", "audit-delete"}
ERRORS_UP = {"req-500", "stderr-tb", "audit-delete", "critical"}

TABLE: list[tuple[str, set[str]]] = [
    ("", ALL),
    ("severity>=ERROR", ERRORS_UP),
    ("severity=ERROR", {"req-500", "stderr-tb", "audit-delete"}),
    ("severity>warning", ERRORS_UP),
    ("severity<INFO", {"stderr-plain", "gce"}),
    ("severity=DEFAULT", {"stderr-plain"}),
    ("severity>=400", ERRORS_UP | {"req-api-503", "json-warn"}),
    ('resource.type="gae_app"', ALL - {"gce"}),
    ('resource.type=("gce_instance" OR "cloud_run_revision")', {"gce"}),
    ("resource.labels.module_id=api", {"req-api-503", "stderr-tb"}),
    ("resource.labels.module_id:def",
     {"req-ok", "req-500", "json-info", "critical"}),
    ("resource.labels.version_id!=v1", ALL - {"req-ok", "json-info"}),
    (f'logName="{REQUEST_LOG}"', REQUESTS),
    ("logName:stderr", {"stderr-tb", "stderr-plain", "critical"}),
    ('log_id("cloudaudit.googleapis.com/activity")', AUDITS),
    ('timestamp>="2025-11-18T09:00:08Z"', {"audit-delete", "critical", "gce"}),
    ('timestamp<"2025-11-18T09:00:02Z"', {"req-ok", "req-500"}),
    ('timestamp>="2025-11-18T10:00:03+01:00" '
     'timestamp<="2025-11-18T09:00:04.000000000Z"', {"stderr-tb", "stderr-plain"}),
    ('insertId="req-500"', {"req-500"}),
    ('insertId>"stderr"', {"stderr-tb", "stderr-plain"}),
    ('labels.instance="i-1"', {"req-ok"}),
    ("labels.instance:*", {"req-ok", "critical"}),
    ("-labels.instance:*", ALL - {"req-ok", "critical"}),
    ("textPayload:traceback", {"stderr-tb"}),
    ('textPayload:"ValueError: bad input"', {"stderr-tb"}),
    (r'textPayload=~"^Listening on port \d+$"', {"stderr-plain"}),
    ('jsonPayload.message="slow query"', {"json-warn"}),
    ("jsonPayload.latency_ms>1000", {"json-warn"}),
    ("jsonPayload.latency_ms<=3", {"json-info"}),
    ("jsonPayload.db.table=orders", {"json-warn"}),
    ("jsonPayload.retry=true", {"json-warn"}),
    ("jsonPayload.tags=slow", {"json-warn"}),
    ("jsonPayload.user=NULL_VALUE", {"json-warn"}),
    ("jsonPayload:cache", {"json-info"}),
    ("jsonPayload.missing:*", set()),
    ("protoPayload.status=500", {"req-500"}),
    ("protoPayload.status>=500", {"req-500", "req-api-503"}),
    ("protoPayload.versionId=v7", {"req-api-503"}),
    ("protoPayload.moduleId=default", {"req-ok", "req-500"}),
    ('protoPayload.methodName:"UpdateService"', {"audit-split"}),
    ("protoPayload.status.code=9", {"audit-delete"}),
    ("protoPayload.authenticationInfo.principalEmail:deployer", AUDITS),
    ("protoPayload.line.logMessage:KeyError", {"req-500"}),
    ('protoPayload."@type"="type.googleapis.com/google.cloud.audit.AuditLog"',
     AUDITS),
    ("httpRequest.status>=500", {"req-500", "req-api-503"}),
    ("httpRequest.status:*", REQUESTS),
    ("NOT httpRequest.status:*", ALL - REQUESTS),
    ('"out of memory"', {"critical"}),
    ("orders", {"json-warn"}),
    ("severity>=ERROR resource.labels.module_id=default", {"req-500", "critical"}),
    # The Logging language binds OR tighter than AND.
    ("severity=ERROR OR severity=CRITICAL AND resource.labels.module_id=default",
     {"req-500", "critical"}),
    ('NOT severity>=ERROR OR labels.instance="i-2"', (ALL - ERRORS_UP) | {"critical"}),
    ("(severity=ERROR OR severity=CRITICAL) AND NOT protoPayload:*",
     {"stderr-tb", "critical"}),
    ("sample(insertId, 1)", ALL),
    ("sample(insertId, 0)", set()),
]

BAD_FILTERS: list[tuple[str, int, str]] = [
    ("severity>=BOGUS", 11, "severity"),
    ("foo.bar=1", 1, "no field 'foo'"),
    ("protoPayload.nope=1", 14, "not a field of RequestLog or AuditLog"),
    ("(severity=ERROR", 16, "expected ')'"),
    ('timestamp>"yesterday"', 11, "RFC 3339"),
    ("httpRequest.status=abc", 20, "expected a number"),
    ('textPayload="unterminated', 13, "unterminated"),
    ("resource=gae_app", 9, "only ':'"),
    ("severity=ERROR AND", 19, "expected a comparison"),
    ("unknown_fn(insertId)", 1, "unsupported function"),
    ("sample(insertId, 2)", 18, "not in [0, 1]"),
    ("logName.x=1", 9, "has no fields"),
    ('textPayload=~"("', 14, "regular expression"),
    ("severity=ERROR\n  AND bogusField=1", 7, "line 2"),
]


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    emulator = Emulator(EmulatorOptions(run_traffic=False)).start()
    try:
        logging_api = logging_client(Endpoint(PROJECT, emulator.address))
        logging_api.write_log_entries(
            entries=[LogEntry.wrap(e) for e in table_entries()]
        )
        other = _entry("other-project", 0, "projects/elsewhere/logs/app", 500)
        other.text_payload = "Traceback in another project"
        logging_api.write_log_entries(entries=[LogEntry.wrap(other)])
        yield logging_api
    finally:
        emulator.stop()


def _matching(client: Any, text: str) -> set[str]:
    pager = client.list_log_entries(
        request={"resource_names": [f"projects/{PROJECT}"], "filter": text,
                 "page_size": 1000}
    )
    return {entry.insert_id for entry in pager}


@pytest.mark.parametrize(("text", "expected"), TABLE, ids=[row[0] for row in TABLE])
def test_filter_table(client: Any, text: str, expected: set[str]) -> None:
    assert _matching(client, text) == expected


@pytest.mark.parametrize(("text", "column", "words"), BAD_FILTERS,
                         ids=[row[0] for row in BAD_FILTERS])
def test_invalid_filter_names_position(
    client: Any, text: str, column: int, words: str
) -> None:
    with pytest.raises(exceptions.InvalidArgument) as caught:
        _matching(client, text)
    message = caught.value.message
    assert f"column {column} " in message
    assert words in message


def test_resource_names_scope_entries(client: Any) -> None:
    pager = client.list_log_entries(
        request={"resource_names": ["projects/elsewhere"], "filter": "traceback"}
    )
    assert [e.insert_id for e in pager] == ["other-project"]


def test_not_binds_tighter_than_or_than_and() -> None:
    tree = parse("a OR NOT b AND NOT c OR d")
    assert isinstance(tree, Binary) and tree.op == "AND"
    assert isinstance(tree.left, Binary) and tree.left.op == "OR"
    assert isinstance(tree.left.right, Not)
    assert isinstance(tree.right, Binary) and tree.right.op == "OR"


def test_minus_negates_a_term_but_signs_a_value() -> None:
    negated = parse("-severity=ERROR")
    assert isinstance(negated, Not)
    signed = parse("httpRequest.status>-1")
    assert isinstance(signed, Comparison)
    assert isinstance(signed.value, Literal) and signed.value.text == "-1"


def test_quoted_path_segment_keeps_dots() -> None:
    entry = _entry("dots", 0, APP_LOG, labels={"k8s.io/name": "web"})
    assert compile_filter('labels."k8s.io/name"=web')(entry)
    assert not compile_filter('labels."k8s.io/name"=api')(entry)


def test_sample_is_deterministic_and_proportional() -> None:
    entries = [_entry(f"id-{i:04d}", 0, APP_LOG) for i in range(2000)]
    predicate = compile_filter("sample(insertId, 0.25)")
    first = [e.insert_id for e in entries if predicate(e)]
    recompiled = compile_filter("sample(insertId, 0.25)")
    again = [e.insert_id for e in entries if recompiled(e)]
    assert first == again
    assert 400 <= len(first) <= 600
    half = {e.insert_id for e in entries if compile_filter("sample(insertId, 0.5)")(e)}
    assert set(first) <= half


def test_filter_error_positions_in_python() -> None:
    with pytest.raises(FilterError) as caught:
        compile_filter("severity=ERROR OR (logName:x")
    assert caught.value.position == len("severity=ERROR OR (logName:x")
    assert caught.value.line == 1
