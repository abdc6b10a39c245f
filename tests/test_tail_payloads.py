"""Entries of every shape through the live tail: the largest the service
takes, payloads that are not valid UTF-8, payload types nobody knows."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from google.cloud.appengine_logging_v1.types import RequestLog
from google.cloud.audit import audit_log_pb2
from google.cloud.logging_v2.types import LogEntry
from google.protobuf import struct_pb2
from test_tail_support import (
    KEY_ERROR,
    PROJECT,
    RecordingSink,
    request_log,
    running_emulator,
    start_tail,
    stderr,
    store_of,
)

from deployconsole.emulator.logging_api import MAX_ENTRY_BYTES
from deployconsole.emulator.server import Emulator
from deployconsole.gcp.channel import Endpoint, logging_client
from deployconsole.gcp.logs import TailSession
from deployconsole.gcp.tail_filter import TailScope


@pytest.fixture()
def emulator() -> Iterator[Emulator]:
    yield from running_emulator()


def tail(emulator: Emulator, scope: TailScope) -> tuple[TailSession, RecordingSink]:
    return start_tail(emulator, scope)


def test_the_largest_entries_the_service_takes(emulator: Emulator) -> None:
    # A traceback at the end of a text that fills an entry to the limit,
    # written through the official client's WriteLogEntries.
    filler = "x" * 199 + "\n"
    entry = stderr(KEY_ERROR, insert_id="big")
    while entry.ByteSize() + len(filler) <= MAX_ENTRY_BYTES:
        entry.text_payload = filler + entry.text_payload
    assert MAX_ENTRY_BYTES - 200 < entry.ByteSize() <= MAX_ENTRY_BYTES
    session, sink = tail(emulator, TailScope())
    try:
        client = logging_client(Endpoint(PROJECT, emulator.address))
        client.write_log_entries(entries=[LogEntry.wrap(entry)])
        sink.wait_records(1)
    finally:
        session.stop()
    record = sink.records[0]
    assert record.insert_id == "big"
    assert record.text == entry.text_payload
    assert record.tracebacks and record.tracebacks[-1].type == "KeyError"


def _request_log_with_bad_utf8() -> Any:
    """A request log whose app line is not UTF-8, as a buggy agent sends it.

    Python's protobuf refuses to build such a message, so the bad field is
    appended to the serialized payload by hand.
    """
    entry = request_log(500, insert_id="bad-utf8")
    payload = RequestLog.pb()(status=500, method="GET", resource="/cart")
    resource = RequestLog.pb().DESCRIPTOR.fields_by_name["resource"].number
    bad_field = bytes([(resource << 3) | 2, 4]) + b"/\xff\xfex"
    entry.proto_payload.value = payload.SerializeToString() + bad_field
    return entry


def test_invalid_utf8_in_payloads(emulator: Emulator) -> None:
    text = "caf\ufffd au lait \u202eevil\u202c \U0001f525 \x00 end"
    entries = [
        _request_log_with_bad_utf8(),
        stderr(text, insert_id="replaced", severity=500),
        stderr(KEY_ERROR.replace("sku-7731", "sku-\ufffd\ufffd"), insert_id="tb"),
    ]
    # Every entry of the services: the emulator's own protoPayload filters
    # would trip over the bad bytes before the console sees them.
    session, sink = tail(emulator, TailScope(everything=True))
    try:
        store_of(emulator).write(entries)
        sink.wait_records(3)
        sink.wait_event("unreadable")
    finally:
        session.stop()
    by_id = {record.insert_id: record for record in sink.records}
    # The unreadable request log is still listed, with what could be read
    # and a note instead of its payload.
    bad = by_id["bad-utf8"]
    assert bad.status == 500 and bad.service == "default" and bad.version == "v1"
    assert "could not be read" in bad.text and "bad UTF-8" in bad.text
    unreadable = [e for e in sink.events if e.kind == "unreadable"]
    assert len(unreadable) == 1 and "bad-utf8" in unreadable[0].message
    assert by_id["replaced"].text == text
    assert by_id["tb"].tracebacks[0].message == "'sku-\ufffd\ufffd'"


def test_unknown_payload_types(emulator: Emulator) -> None:
    unknown = request_log(200, insert_id="unknown")
    unknown.proto_payload.type_url = "type.googleapis.com/acme.billing.v1.Invoice"
    unknown.proto_payload.value = b"\x08\x96\x01\x12\x07invoice"
    unknown.severity = 500

    audit = request_log(200, insert_id="audit")
    audit.log_name = f"projects/{PROJECT}/logs/cloudaudit.googleapis.com%2Factivity"
    audit.proto_payload.Pack(audit_log_pb2.AuditLog(method_name="UpdateService"))
    audit.severity = 500
    audit.ClearField("http_request")

    json_entry = stderr("", insert_id="json", severity=500)
    json_entry.json_payload.CopyFrom(
        struct_pb2.Struct(fields={"message": struct_pb2.Value(string_value=KEY_ERROR)})
    )
    bare = stderr("", insert_id="bare", severity=600)
    bare.ClearField("text_payload")

    session, sink = tail(emulator, TailScope())
    try:
        store_of(emulator).write([unknown, audit, json_entry, bare])
        sink.wait_records(4)
    finally:
        session.stop()
    by_id = {record.insert_id: record for record in sink.records}
    assert set(by_id) == {"unknown", "audit", "json", "bare"}
    assert by_id["unknown"].kind == "proto" and by_id["unknown"].status == 200
    assert by_id["audit"].kind == "proto" and by_id["audit"].severity == "ERROR"
    assert by_id["json"].tracebacks[0].type == "KeyError"
    assert by_id["bare"].severity == "CRITICAL" and by_id["bare"].text == ""
    assert "unreadable" not in sink.kinds()
