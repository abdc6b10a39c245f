"""Normalising LogEntries: the JSON export and raw protobuf give one value."""

from __future__ import annotations

from typing import Any

import pytest
from corpus.expect import case_names, fixture
from google.cloud.appengine_logging_v1.types import RequestLog
from google.cloud.logging_v2.types import LogEntry
from google.protobuf import json_format

from deployconsole.core.logentry import (
    KIND_JSON,
    KIND_PROTO,
    KIND_REQUEST,
    KIND_TEXT,
    EntryError,
    LogRecord,
    build_record,
    is_error,
    parse_duration,
    parse_rfc3339,
    record_from_json,
)
from deployconsole.core.traceback_model import frozen_maker
from deployconsole.gcp.entries import LOG_ENTRY_PB, REQUEST_LOG_PB, record_from_pb


def _pb(entry: dict[str, Any]) -> Any:
    message = json_format.ParseDict(entry, LOG_ENTRY_PB(), ignore_unknown_fields=True)
    return LOG_ENTRY_PB.FromString(message.SerializeToString())


@pytest.mark.parametrize("case", case_names())
def test_json_and_protobuf_give_the_same_record(case: str) -> None:
    entry, _ = fixture(case)
    from_json = record_from_json(entry)
    message = _pb(entry)
    assert record_from_pb(message) == from_json
    assert record_from_pb(LogEntry.wrap(message)) == from_json


def test_python27_request_log() -> None:
    entry, _ = fixture("py27_distribution_not_found")
    record = record_from_json(entry)
    assert record.kind == KIND_REQUEST
    assert (record.service, record.version) == ("default", "20201001t120000")
    assert record.instance.startswith("004282045f411f38")
    assert (record.method, record.path, record.status) == ("GET", "/", 500)
    assert record.latency == pytest.approx(1.203418)
    assert record.severity == "ERROR"
    assert (
        record.trace == "projects/myshop-prod/traces/838d5427fdf5f6b9ede78f3728c2a8db"
    )
    assert record.timestamp == parse_rfc3339("2025-11-18T09:00:14.900000Z")
    assert record.summary == "DistributionNotFound: google-api-core"
    assert record.log_name.endswith("appengine.googleapis.com%2Frequest_log")
    assert is_error(record)


def test_second_generation_request_log_without_severity() -> None:
    entry, _ = fixture("py311_request_500")
    record = record_from_json(entry)
    assert (record.severity, record.status, record.service) == ("", 500, "api")
    assert record.summary == "POST /checkout 500"
    assert is_error(record)
    healthy = record_from_json(fixture("py311_request_200_healthz")[0])
    assert not is_error(healthy)


def test_app_line_without_traceback_shows_in_the_summary() -> None:
    record = record_from_json(fixture("py27_memory_limit_no_traceback")[0])
    assert record.summary.startswith("GET /reports/sales.csv?year=2025 500 · Exceeded")


def test_stderr_entry_without_severity_is_an_error_by_its_traceback() -> None:
    record = record_from_json(fixture("py311_flask_requests_chain")[0])
    assert record.kind == KIND_TEXT and record.severity == ""
    assert (
        record.summary
        == "shop.payments.PaymentGatewayError: charge failed for order 4711"
    )
    assert is_error(record)
    assert record.instance == record_from_json(fixture("py311_request_500")[0]).instance


def test_json_payload_fields() -> None:
    record = record_from_json(fixture("py312_json_reported_error_event")[0])
    assert record.kind == KIND_JSON
    assert (record.method, record.path, record.status) == (
        "POST",
        "/admin/refunds/pay_3PqX",
        500,
    )
    stack = record_from_json(fixture("py312_json_stack_trace_field")[0])
    assert stack.tracebacks[0].preamble is None
    assert stack.text.startswith("Stripe webhook evt_1QF2 could not be parsed\n")
    info = record_from_json(fixture("py312_json_info_no_traceback")[0])
    assert (info.summary, info.severity, is_error(info)) == (
        "refund queued",
        "INFO",
        False,
    )


def test_entry_outside_app_engine() -> None:
    record = record_from_json(fixture("py311_windows_paths")[0])
    assert (record.resource_type, record.service, record.version) == ("global", "", "")
    assert record.severity == "CRITICAL"


def test_huge_entry_is_taken_as_cut() -> None:
    (tb,) = record_from_json(
        fixture("py311_flask_huge_message_truncated")[0]
    ).tracebacks
    assert tb.incomplete and tb.final.message_truncated


def test_request_log_with_fields_the_published_proto_lacks() -> None:
    entry, _ = fixture("py311_request_500")
    assert "spanId" in entry["protoPayload"]
    record = record_from_json(entry)
    # On the protobuf side: unknown fields in the packed RequestLog.
    message = _pb(entry)
    log = REQUEST_LOG_PB.FromString(message.proto_payload.value)
    unknown = b"\xfa\x0f\x03abc"  # field 255, length-delimited
    message.proto_payload.value = log.SerializeToString() + unknown
    assert record_from_pb(message) == record


def test_other_proto_payloads_are_kept_as_proto() -> None:
    entry = {
        "insertId": "a1",
        "logName": "projects/p/logs/cloudaudit.googleapis.com%2Factivity",
        "protoPayload": {"@type": "type.googleapis.com/google.cloud.audit.AuditLog"},
        "timestamp": "2025-11-18T09:00:00Z",
    }
    record = record_from_json(entry)
    assert (record.kind, record.tracebacks, record.summary) == (KIND_PROTO, (), "")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([1, 2], "expected a LogEntry object, got an array"),
        ("text", "expected a LogEntry object, got a string"),
        ({"hello": "world"}, "not a LogEntry"),
        ({"textPayload": 3}, "textPayload is a number, not a string"),
        ({"timestamp": "yesterday"}, "timestamp is not an RFC 3339 time"),
        ({"severity": "LOUD"}, "severity 'LOUD' is not a LogSeverity"),
        ({"resource": "gae_app"}, "resource is a string, not an object"),
        (
            {"protoPayload": {"@type": "x/" + RequestLog.meta.full_name, "line": 3}},
            "protoPayload.line is not a list",
        ),
    ],
)
def test_json_that_is_not_a_log_entry(value: object, message: str) -> None:
    with pytest.raises(EntryError, match="^" + message.replace("(", r"\(")):
        record_from_json(value)


def test_times_and_durations() -> None:
    assert parse_rfc3339("1970-01-01T00:00:00Z") == 0.0
    assert (
        parse_rfc3339("2025-11-18T09:00:16.469550043Z") == 1763456416 + 469550043 / 1e9
    )
    assert parse_rfc3339("2025-11-18T10:00:00+01:00") == parse_rfc3339(
        "2025-11-18T09:00:00Z"
    )
    assert parse_rfc3339("2000-02-29T00:00:00Z") == 951782400.0
    assert parse_duration("1.203418s") == 1 + 203418000 / 1e9
    assert parse_duration("-0.5s") == -0.5
    with pytest.raises(EntryError):
        parse_duration("5 minutes")


def test_frozen_maker_builds_the_same_value() -> None:
    make = frozen_maker(LogRecord)
    values: tuple[Any, ...] = ("i", 1.0, "l", "ERROR", "s", "v", "n", "t", "GET")
    values += ("/", 500, 0.1, "x", (), "text", KIND_TEXT, "gae_app")
    made = make(*values)
    assert type(made) is LogRecord
    assert made == LogRecord(*values)
    assert hash(made) == hash(LogRecord(*values))
    with pytest.raises(AttributeError):
        made.severity = "INFO"  # type: ignore[misc]


def test_build_record_summary_is_one_clipped_line() -> None:
    record = build_record(
        "", None, "", "", "", "", "", "", kind=KIND_TEXT, text="\n\n  x" * 2
    )
    assert record.summary == "x"
    long = build_record(
        "", None, "", "", "", "", "", "", kind=KIND_TEXT, text="y" * 1000
    )
    assert len(long.summary) == 300 and long.summary.endswith("…")
