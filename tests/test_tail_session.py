"""A tail session's life against the emulator, through the official client:
connecting, delivering, changing scope, stopping, and the failures a user
must be told about."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from test_tail_support import (
    DEADLINE,
    KEY_ERROR,
    PROJECT,
    RecordingSink,
    request_log,
    running_emulator,
    start_tail,
    stderr,
    store_of,
)

from deployconsole.emulator.server import Emulator
from deployconsole.gcp.channel import Endpoint
from deployconsole.gcp.logs import TailBusy, TailSession, TailSettings
from deployconsole.gcp.tail_filter import TailScope


@pytest.fixture()
def emulator() -> Iterator[Emulator]:
    yield from running_emulator()


start = start_tail


def test_errors_and_request_logs_arrive_as_records(emulator: Emulator) -> None:
    session, sink = start(emulator)
    try:
        store_of(emulator).write(
            [
                request_log(200, insert_id="ok"),
                request_log(503, insert_id="failed"),
                stderr(KEY_ERROR, insert_id="traceback"),
                stderr("listening on port 8080", insert_id="chatter"),
            ]
        )
        sink.wait_records(3)
    finally:
        session.stop()
    by_id = {record.insert_id: record for record in sink.records}
    assert set(by_id) == {"ok", "failed", "traceback"}
    assert by_id["failed"].status == 503
    assert by_id["traceback"].tracebacks[0].type == "KeyError"
    assert by_id["ok"].service == "default" and by_id["ok"].version == "v1"
    assert sink.kinds()[:2] == ["connecting", "connected"]
    assert sink.kinds()[-1] == "stopped"
    assert set(sink.samples) == {1.0}


def test_a_second_session_for_the_project_is_refused(emulator: Emulator) -> None:
    session, _ = start(emulator)
    try:
        with pytest.raises(TailBusy, match="one per project"):
            TailSession(
                Endpoint(PROJECT, emulator.address), TailScope(), RecordingSink()
            ).start()
        # Another project is another session.
        other = TailSession(
            Endpoint("other-project", emulator.address), TailScope(), RecordingSink()
        ).start()
        other.stop()
    finally:
        session.stop()


def test_stop_ends_a_quiet_stream_and_its_threads(emulator: Emulator) -> None:
    session, sink = start(emulator)
    session.stop(timeout=DEADLINE)
    assert store_of(emulator).wait_for_sessions(0, DEADLINE)
    assert sink.kinds()[-1] == "stopped"
    assert "failed" not in sink.kinds()
    # A session can be started again for the project once the first stopped.
    again, _ = start(emulator)
    again.stop()


def test_set_scope_switches_the_stream_to_other_services(emulator: Emulator) -> None:
    session, sink = start(emulator, TailScope(services=("default",)))
    store = store_of(emulator)
    try:
        store.write([request_log(500, service="api", insert_id="api-1")])
        store.write([request_log(500, service="default", insert_id="default-1")])
        sink.wait_for(lambda: "default-1" in sink.ids())
        session.set_scope(TailScope(services=("api",)))
        sink.wait_event("connected", 2)
        store.write(
            [
                request_log(500, service="default", insert_id="default-2"),
                request_log(500, service="api", insert_id="api-2"),
            ]
        )
        sink.wait_for(lambda: "api-2" in sink.ids())
    finally:
        session.stop()
    ids = sink.ids()
    assert "api-1" not in ids and "default-2" not in ids
    assert max(ids.values()) == 1
    assert session.scope == TailScope(services=("api",))


def test_permission_denied_fails_once_without_retrying(emulator: Emulator) -> None:
    emulator.faults.set("permission-denied=TailLogEntries")
    sink = RecordingSink()
    session = TailSession(Endpoint(PROJECT, emulator.address), TailScope(), sink)
    session.start()
    try:
        sink.wait_event("stopped")
    finally:
        session.stop()
    failed = [event for event in sink.events if event.kind == "failed"]
    assert len(failed) == 1 and failed[0].fatal
    assert failed[0].reason == "PERMISSION_DENIED"
    assert "permission" in failed[0].message.lower()
    assert "reconnecting" not in sink.kinds()


def test_refused_reads_are_reported_before_any_stream(emulator: Emulator) -> None:
    emulator.faults.set("permission-denied=ListLogEntries")
    sink = RecordingSink()
    session = TailSession(Endpoint(PROJECT, emulator.address), TailScope(), sink)
    session.start()
    try:
        sink.wait_event("stopped")
    finally:
        session.stop()
    assert sink.kinds() == ["connecting", "failed", "stopped"]
    assert session.stats().streams == 0


def test_an_unreachable_service_is_retried_with_backoff() -> None:
    sink = RecordingSink()
    # Nothing listens on port 1 of loopback.
    session = TailSession(
        Endpoint(PROJECT, "127.0.0.1:1"),
        TailScope(),
        sink,
        TailSettings(backoff_initial=0.05, backoff_max=0.2),
    ).start()
    try:
        sink.wait_event("reconnecting", 3)
    finally:
        session.stop()
    retries = [event for event in sink.events if event.kind == "reconnecting"]
    assert all(event.reason == "UNAVAILABLE" for event in retries)
    assert all(event.retry_in is not None and event.retry_in > 0 for event in retries)
    assert "Cannot reach Cloud Logging" in retries[0].message
    assert "connected" not in sink.kinds()


def test_stopping_a_session_that_never_started_keeps_anothers_claim() -> None:
    from contextlib import contextmanager

    from test_tail_support import RecordingSink, running_emulator

    from deployconsole.gcp.channel import Endpoint
    from deployconsole.gcp.logs import TailBusy, TailSession
    from deployconsole.gcp.tail_filter import TailScope

    with contextmanager(running_emulator)() as emulator:
        endpoint = Endpoint(emulator.state.project_id, emulator.address)
        first = TailSession(endpoint, TailScope(), RecordingSink()).start()
        try:
            never_started = TailSession(endpoint, TailScope(), RecordingSink())
            never_started.stop()
            third = TailSession(endpoint, TailScope(), RecordingSink())
            try:
                third.start()
            except TailBusy:
                pass
            else:
                third.stop()
                raise AssertionError("a second tail of the project was started")
        finally:
            first.stop()
