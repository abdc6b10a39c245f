"""The tail's filters, read quota, dedupe and backoff; and the entry
builders and sinks the other tail tests share."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
from google.cloud.appengine_logging_v1.types import RequestLog
from google.cloud.logging_v2.types import LogEntry

from deployconsole.core.ingest import StreamEvent
from deployconsole.core.logentry import LogRecord
from deployconsole.emulator.filters import compile_filter
from deployconsole.emulator.server import Emulator, EmulatorOptions
from deployconsole.gcp.tail_filter import (
    ScopeError,
    TailScope,
    backfill_filter,
    compose_filter,
)
from deployconsole.gcp.tail_support import Backoff, InsertIdWindow, ReadQuota

# Not the emulator's own project, which its admin handlers write audit logs to.
PROJECT = "tail-test"
REQUEST_LOG = f"projects/{PROJECT}/logs/appengine.googleapis.com%2Frequest_log"
STDERR_LOG = f"projects/{PROJECT}/logs/stderr"
REQUEST_LOG_TYPE = "type.googleapis.com/google.appengine.logging.v1.RequestLog"
RawEntry: Any = LogEntry.pb()
RawRequestLog: Any = RequestLog.pb()
DEADLINE = 20.0

KEY_ERROR = """\
Traceback (most recent call last):
  File "/workspace/main.py", line 12, in show_cart
    return cart_total(skus)
  File "/workspace/shop/cart.py", line 9, in line_price
    return PRICES[sku]
KeyError: 'sku-7731'"""


# -- entry builders ------------------------------------------------------------


def _stamp(target: Any, seconds: float) -> None:
    target.FromNanoseconds(int(round(seconds * 1e9)))


def _resource(entry: Any, service: str, version: str) -> None:
    entry.resource.type = "gae_app"
    labels = entry.resource.labels
    labels["project_id"] = PROJECT
    labels["module_id"] = service
    labels["version_id"] = version


def request_log(
    status: int = 200,
    *,
    service: str = "default",
    version: str = "v1",
    at: float | None = None,
    latency: float = 0.05,
    insert_id: str = "",
    line: str = "",
) -> Any:
    """An App Engine request log as the platform writes it."""
    payload = RawRequestLog(
        status=status,
        method="GET",
        resource="/cart",
        version_id=version,
        module_id="" if service == "default" else service,
    )
    _stamp(payload.latency, latency)
    if line:
        app_line = payload.line.add()
        app_line.severity = 500
        app_line.log_message = line
    entry = RawEntry(log_name=REQUEST_LOG, insert_id=insert_id)
    _resource(entry, service, version)
    entry.proto_payload.Pack(payload)
    entry.http_request.status = status
    if line:
        entry.severity = 500
    if at is not None:
        _stamp(entry.timestamp, at)
    return entry


def stderr(
    text: str,
    *,
    service: str = "default",
    version: str = "v1",
    instance: str = "i-1",
    at: float | None = None,
    severity: int = 0,
    insert_id: str = "",
) -> Any:
    """A python3 runtime's stderr line (tracebacks often without severity)."""
    entry = RawEntry(
        log_name=STDERR_LOG, text_payload=text, severity=severity, insert_id=insert_id
    )
    _resource(entry, service, version)
    entry.labels["clone_id"] = instance
    if at is not None:
        _stamp(entry.timestamp, at)
    return entry


# -- a sink that records what a session delivers ----------------------------


class RecordingSink:
    """A TailSink that keeps every record and event, with waits on them."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.records: list[LogRecord] = []
        self.samples: list[float] = []
        self.events: list[StreamEvent] = []

    def add_records(
        self, records: Sequence[LogRecord], request_sample: float = 1.0
    ) -> None:
        with self.cond:
            self.records.extend(records)
            self.samples.extend([request_sample] * len(records))
            self.cond.notify_all()

    def add_event(self, event: StreamEvent) -> None:
        with self.cond:
            self.events.append(event)
            self.cond.notify_all()

    def wait_for(self, check: Callable[[], bool], timeout: float = DEADLINE) -> None:
        with self.cond:
            if not self.cond.wait_for(check, timeout):
                pytest.fail(
                    f"timed out after {timeout} s with {len(self.records)} records "
                    f"and events {[e.kind for e in self.events]}"
                )

    def wait_records(self, count: int, timeout: float = DEADLINE) -> None:
        self.wait_for(lambda: len(self.records) >= count, timeout)

    def wait_event(self, kind: str, count: int = 1) -> None:
        self.wait_for(lambda: self.kinds().count(kind) >= count)

    def kinds(self) -> list[str]:
        return [event.kind for event in self.events]

    def ids(self) -> Counter[str]:
        with self.cond:
            return Counter(record.insert_id for record in self.records)


def running_emulator() -> Iterator[Emulator]:
    """An emulator without traffic for a fixture to yield from."""
    running = Emulator(EmulatorOptions(run_traffic=False)).start()
    try:
        yield running
    finally:
        assert running.state.logs is not None
        running.state.logs.close()
        running.stop()


def start_tail(
    emulator: Emulator,
    scope: Any = None,
    settings: Any = None,
    *,
    connected: bool = False,
) -> tuple[Any, RecordingSink]:
    """A tail session of PROJECT on ``emulator`` with a recording sink, once
    the emulator has its stream (and, with ``connected``, once the session
    has said so)."""
    from deployconsole.gcp.channel import Endpoint
    from deployconsole.gcp.logs import TailSession
    from deployconsole.gcp.tail_filter import TailScope

    sink = RecordingSink()
    session = TailSession(
        Endpoint(PROJECT, emulator.address), scope or TailScope(), sink, settings
    ).start()
    assert store_of(emulator).wait_for_sessions(1, DEADLINE)
    if connected:
        sink.wait_event("connected")
    return session, sink


def store_of(emulator: Emulator) -> Any:
    assert emulator.state.logs is not None
    return emulator.state.logs


# -- filters ---------------------------------------------------------------------


def _matches(text: str, entries: list[Any]) -> list[bool]:
    predicate = compile_filter(text)
    return [predicate(entry) for entry in entries]


def _with_ids(entries: list[Any]) -> list[Any]:
    for n, entry in enumerate(entries):
        entry.insert_id = f"id-{n:05d}"
    return entries


def test_error_filter_keeps_errors_and_tracebacks_without_severity() -> None:
    entries = _with_ids(
        [
            request_log(200),
            request_log(503),
            stderr(KEY_ERROR),  # no severity: a python3 traceback on stderr
            stderr("ERROR in app: Exception on /cart [GET]"),  # its cut-off preamble
            stderr("listening on port 8080"),
            stderr("disk almost full", severity=500),
            request_log(500, service="api"),
        ]
    )
    errors = compose_filter(TailScope(request_logs=False))
    assert _matches(errors, entries) == [False, True, True, True, False, True, True]
    with_rates = compose_filter(TailScope())
    assert _matches(with_rates, entries) == [True, True, True, True, False, True, True]
    everything = compose_filter(TailScope(everything=True))
    assert all(_matches(everything, entries))


def test_scope_narrows_to_services_and_versions() -> None:
    entries = [
        request_log(500, service="default", version="v1"),
        request_log(500, service="api", version="v1"),
        request_log(500, service="api", version="v2"),
        request_log(500, service="worker", version="v1"),
    ]
    scope = TailScope(services=("default", "api"), versions=("v1",))
    assert _matches(compose_filter(scope), entries) == [True, True, False, False]


def test_sampling_thins_request_logs_but_keeps_every_error() -> None:
    rng = random.Random(7)
    ok = _with_ids([request_log(200) for _ in range(4000)])
    for entry in ok:
        entry.insert_id = f"{rng.getrandbits(64):016x}"
    failed = [request_log(500, insert_id=f"f{n}") for n in range(200)]
    tracebacks = [stderr(KEY_ERROR, insert_id=f"t{n}") for n in range(200)]
    for scope in (TailScope(), TailScope(everything=True)):
        text = compose_filter(scope, request_sample=0.25)
        kept = sum(_matches(text, ok))
        assert 800 < kept < 1200, (scope, kept)
        assert all(_matches(text, failed + tracebacks)), scope


def test_backfill_filter_bounds_by_receive_time() -> None:
    base = 1_764_000_000.0
    entries = []
    for received in (base - 5, base, base + 5):
        entry = request_log(500, at=base - 10)
        _stamp(entry.receive_timestamp, received)
        entries.append(entry)
    text = backfill_filter(compose_filter(TailScope()), base, late_allowance=60)
    assert _matches(text, entries) == [False, True, True]
    # An entry stamped long before it arrived is past the late allowance.
    strict = backfill_filter(compose_filter(TailScope()), base, late_allowance=5)
    assert _matches(strict, entries) == [False, False, False]


@pytest.mark.parametrize("bad", ["Default", "api service", "v1/../x", "", "-v1"])
def test_scope_refuses_ids_app_engine_would_not_take(bad: str) -> None:
    with pytest.raises(ScopeError, match="not a valid"):
        TailScope(services=(bad,))
    with pytest.raises(ScopeError, match="version id"):
        TailScope(versions=(bad,))


def test_compose_filter_refuses_a_sample_outside_zero_to_one() -> None:
    for bad in (0.0, -0.5, 1.5, float("nan")):
        with pytest.raises(ValueError, match="request_sample"):
            compose_filter(TailScope(), bad)


# -- read quota, dedupe, backoff ---------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_read_quota_allows_a_burst_then_the_rate() -> None:
    clock = FakeClock()
    quota = ReadQuota(per_minute=30, burst=5, clock=clock)
    assert [quota.try_take() for _ in range(6)] == [True] * 5 + [False]
    assert quota.wait_time() == pytest.approx(2.0)
    clock.now += 2.0
    assert quota.try_take()
    assert not quota.try_take()
    # In any minute at most burst + per_minute reads: 5 + 30.
    taken = 0
    for _ in range(600):
        clock.now += 0.1
        taken += quota.try_take()
    assert taken == 30


def test_read_quota_wait_ends_on_stop() -> None:
    quota = ReadQuota(per_minute=1, burst=1)
    assert quota.try_take()
    stop = threading.Event()
    stop.set()
    started = time.monotonic()
    assert not quota.take(stop)
    assert time.monotonic() - started < 1.0


def test_insert_id_window_drops_repeats_and_stays_bounded() -> None:
    window = InsertIdWindow(capacity=100)
    assert window.add("a")
    assert not window.add("a")
    for n in range(1000):
        assert window.add(f"id{n}")
        assert len(window) <= 100
    # The last half of the capacity is always remembered.
    assert not any(window.add(f"id{n}") for n in range(950, 1000))
    assert window.add("a")  # long forgotten


def test_backoff_grows_to_its_maximum_and_resets() -> None:
    backoff = Backoff(initial=0.5, maximum=4.0, rng=random.Random(1))
    delays = [backoff.next_delay() for _ in range(8)]
    assert 0.25 <= delays[0] <= 0.5
    assert all(2.0 <= d <= 4.0 for d in delays[4:])
    backoff.reset()
    assert backoff.next_delay() <= 0.5
