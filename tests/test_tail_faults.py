"""The tail when the service misbehaves: streams cut mid-response,
reconnects refused, entries out of order, and entries dropped by the
service's limits. Nothing may be lost and nothing shown twice."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator

import pytest
from test_tail_support import (
    KEY_ERROR,
    RecordingSink,
    request_log,
    running_emulator,
    start_tail,
    stderr,
    store_of,
)

from deployconsole.emulator.server import Emulator, EmulatorOptions
from deployconsole.emulator.state import ManualClock
from deployconsole.gcp.logs import TailSession, TailSettings
from deployconsole.gcp.tail_filter import TailScope


@pytest.fixture()
def emulator() -> Iterator[Emulator]:
    yield from running_emulator()


def start(
    emulator: Emulator, scope: TailScope, settings: TailSettings | None = None
) -> tuple[TailSession, RecordingSink]:
    return start_tail(emulator, scope, settings, connected=True)


def test_stream_cut_every_n_entries_loses_and_repeats_nothing(
    emulator: Emulator,
) -> None:
    store = store_of(emulator)
    # The service's ingestion limit is another test's subject.
    store.tail.entries_per_minute = 0
    emulator.faults.set("tail-cut-every=20000")
    # The emulator stamps receive times from one clock, so the backfill needs
    # no margin for clock skew: the cursor itself must be exact. The batch
    # written when a new stream is announced may reach the service before
    # the stream does; the stream then stays quiet until the settle read has
    # read the gap back, and the re-read that follows costs one read.
    settings = TailSettings(backfill_overlap=0.0, backfill_settle=5.0)
    session, sink = start(emulator, TailScope(everything=True), settings)
    total, batch, in_flight = 100_000, 1_000, 3_000
    written = streams = 0

    def may_write() -> bool:
        # A few responses in flight, as a live project would have; a cut
        # loses what the stream had queued, which the backfill reads back.
        # A project does not stop writing while the console reconnects.
        return (
            written - len(sink.records) <= in_flight
            or sink.kinds().count("connected") > streams
        )

    def stuck(failure: BaseException) -> AssertionError:
        # What was owed, and where the backfill stands, when the writer
        # waited in vain: a backfill paced by the read quota looks the same.
        ids = sink.ids()
        missing = {f"e{n:06d}" for n in range(written)} - set(ids)
        received = sorted(
            e.receive_timestamp.seconds + e.receive_timestamp.nanos / 1e9
            for e in store.entries
            if e.insert_id in missing
        )
        return AssertionError(
            f"{failure}; written {written}, {len(missing)} missing "
            f"({min(missing, default='')} to {max(missing, default='')}, "
            f"received {received[:1]} to {received[-1:]}), {session.stats()}, "
            f"{session._gaps!r}"
        )

    try:
        while written < total:
            try:
                sink.wait_for(may_write)
            except pytest.fail.Exception as failure:
                raise stuck(failure) from None
            streams = sink.kinds().count("connected")
            store.write(
                [
                    stderr(f"line {n}", insert_id=f"e{n:06d}")
                    for n in range(written, written + batch)
                ]
            )
            written += batch
        sink.wait_records(total, timeout=60)
    finally:
        session.stop()

    ids = sink.ids()
    assert len(sink.records) == total
    assert set(ids) == {f"e{n:06d}" for n in range(total)}
    assert max(ids.values()) == 1
    stats = session.stats()
    assert stats.streams >= 5
    assert stats.backfilled > 0
    assert sink.kinds().count("reconnecting") >= 4
    # Within the read quota's burst and rate.
    assert stats.reads <= 60


def test_unavailable_on_reconnect_is_retried_until_it_works(
    emulator: Emulator,
) -> None:
    store = store_of(emulator)
    session, sink = start(emulator, TailScope(everything=True))
    try:
        emulator.faults.set("tail-cut-every=5")
        emulator.faults.set("unavailable=TailLogEntries:2")
        store.write([stderr(f"line {n}", insert_id=f"e{n:02d}") for n in range(20)])
        sink.wait_records(20)
        emulator.faults.clear()
        store.write([stderr("after", insert_id="after")])
        sink.wait_records(21)
    finally:
        session.stop()
    ids = sink.ids()
    assert len(ids) == 21 and max(ids.values()) == 1
    retries = [event for event in sink.events if event.kind == "reconnecting"]
    # The cut, then the two refused reconnects.
    assert len(retries) >= 3
    assert all(event.reason == "UNAVAILABLE" for event in retries)
    delays = [event.retry_in or 0.0 for event in retries]
    assert delays[2] > TailSettings().backoff_initial / 2
    assert "backfilled" in sink.kinds()


def test_entries_out_of_order_across_responses_and_cuts(emulator: Emulator) -> None:
    store = store_of(emulator)
    emulator.faults.set("tail-cut-every=7")
    session, sink = start(
        emulator, TailScope(everything=True), TailSettings(backfill_settle=0.3)
    )
    rng = random.Random(3)
    now = time.time()
    expected: dict[str, float] = {}
    try:
        for round_ in range(8):
            # Every round is older than the last, and shuffled within itself:
            # each response's entries come before what was already shown.
            entries = []
            for n in range(10):
                at = now - 300 * (round_ + 1) + rng.uniform(0, 200)
                insert_id = f"r{round_}-{n}"
                expected[insert_id] = at
                entries.append(stderr(f"line {insert_id}", at=at, insert_id=insert_id))
            store.write(entries)
            sink.wait_records(len(expected))
    finally:
        session.stop()
    ids = sink.ids()
    assert set(ids) == set(expected) and max(ids.values()) == 1
    for record in sink.records:
        assert record.timestamp is not None
        assert abs(record.timestamp - expected[record.insert_id]) < 1e-6
    arrival = [record.timestamp or 0.0 for record in sink.records]
    assert arrival != sorted(arrival)
    # Rounds crossed cuts, and their remainders came back by backfill even
    # though older than everything already shown.
    stats = session.stats()
    assert stats.streams >= 3 and stats.backfilled > 0


def test_rate_limit_is_reported_and_request_logs_are_sampled(
    emulator: Emulator,
) -> None:
    store = store_of(emulator)
    # A session may take 600 entries at once, then 10 a second.
    store.tail.entries_per_minute = 600
    session, sink = start(emulator, TailScope())
    try:
        ok = [request_log(200, insert_id=f"ok{n:04d}") for n in range(1_000)]
        failed = [request_log(500, insert_id=f"err{n:02d}") for n in range(30)]
        tracebacks = [
            stderr(KEY_ERROR, instance=f"i-{n}", insert_id=f"tb{n:02d}")
            for n in range(30)
        ]
        # The errors come last: the stream drops them all. One write, so
        # that no token comes back between the request logs and the errors
        # however slowly a busy machine writes.
        store.write(ok + failed + tracebacks)
        sink.wait_event("sampling")
        wanted = {e.insert_id for e in failed + tracebacks}
        sink.wait_for(lambda: wanted <= set(sink.ids()))
    finally:
        session.stop()

    suppressed = [e for e in sink.events if e.kind == "suppressed"]
    assert suppressed and suppressed[0].reason == "rate limit"
    assert suppressed[0].message == f"{suppressed[0].count} entries dropped: rate limit"
    assert sum(e.count for e in suppressed) >= 460
    sampling = [e for e in sink.events if e.kind == "sampling"][0]
    assert sampling.sample == 0.5
    assert session.request_sample == 0.5
    # Every error was read back, under the sampled filter.
    by_id = dict(zip([r.insert_id for r in sink.records], sink.samples, strict=True))
    assert all(by_id[insert_id] == 0.5 for insert_id in wanted)
    assert max(sink.ids().values()) == 1


def test_entries_a_slow_reader_missed_are_read_back(emulator: Emulator) -> None:
    store = store_of(emulator)
    store.tail.max_queue = 100
    session, sink = start(emulator, TailScope(everything=True))
    try:
        store.write([stderr(f"line {n}", insert_id=f"e{n:03d}") for n in range(500)])
        sink.wait_records(500)
    finally:
        session.stop()
    dropped = [e for e in sink.events if e.kind == "suppressed"]
    assert dropped and dropped[0].reason == "not consumed"
    assert dropped[0].count == 400
    assert len(sink.ids()) == 500 and max(sink.ids().values()) == 1
    assert session.request_sample == 1.0


def test_cuts_are_backfilled_when_the_service_clock_is_not_ours() -> None:
    # The service stamps receive times with its own clock, a year behind.
    options = EmulatorOptions(run_traffic=False)
    running = Emulator(options, clock=ManualClock(start=time.time() - 365 * 86400))
    running.start()
    try:
        store = store_of(running)
        running.faults.set("tail-cut-every=5")
        session, sink = start(
            running, TailScope(everything=True), TailSettings(backfill_settle=0.3)
        )
        try:
            for round_ in range(4):
                store.write(
                    [stderr(f"line {n}", insert_id=f"r{round_}-{n}") for n in range(8)]
                )
                sink.wait_records(8 * (round_ + 1))
        finally:
            session.stop()
        ids = sink.ids()
        assert len(ids) == 32 and max(ids.values()) == 1
        assert session.stats().backfilled > 0
    finally:
        store.close()
        running.stop()
