"""Where the tail's backfill starts and stops (receive-time cursors), how
request-log sampling moves, and what an unreadable entry becomes."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from google.cloud.logging_v2.types import ListLogEntriesResponse
from test_tail_support import request_log, stderr

from deployconsole.emulator.filters import compile_filter
from deployconsole.gcp.tail_backfill import Backfill
from deployconsole.gcp.tail_delivery import unreadable_record
from deployconsole.gcp.tail_gaps import Gap, GapTracker, Resume, gap_filter
from deployconsole.gcp.tail_support import RequestSampler, TailSettings

NEVER = 1_000.0  # a settle time no test waits for


def two_responses_then_a_cut(tracker: GapTracker) -> None:
    """A stream that delivered entries received 10 to 11, then 12 to 13."""
    tracker.stream_opened(reconnect=False)
    tracker.response(10.0, 11.0)
    tracker.response(12.0, 13.0)
    tracker.stream_opened(reconnect=True)


def test_a_cut_is_read_back_from_the_end_of_the_response_before_the_last() -> None:
    tracker = GapTracker(overlap=0.0, settle=NEVER)
    tracker.stream_opened(reconnect=False)
    tracker.response(10.0, 11.0)
    tracker.response(12.0, 13.0)
    tracker.response(14.0, 15.0)  # cut inside this one
    tracker.stream_opened(reconnect=True)
    # Not before the new stream has proven live.
    assert tracker.poll() is None
    tracker.response(20.0, 21.0)
    assert tracker.poll() == Gap(13.0, 20.0)
    assert tracker.poll() is None


def test_the_overlap_widens_both_ends() -> None:
    tracker = GapTracker(overlap=2.0, settle=NEVER)
    tracker.stream_opened(reconnect=False)
    tracker.response(100.0, 101.0)
    tracker.response(102.0, 103.0)
    tracker.stream_opened(reconnect=True)
    tracker.response(110.0, 111.0)
    assert tracker.poll() == Gap(99.0, 112.0)


def test_the_first_response_replaces_the_local_clock_guess() -> None:
    # The service's clock is far behind this machine's.
    tracker = GapTracker(overlap=0.0, settle=NEVER)
    tracker.stream_opened(reconnect=False)
    tracker.response(1_000.0, 1_001.0)  # cut inside the very first response
    tracker.stream_opened(reconnect=True)
    tracker.response(1_010.0, 1_011.0)
    assert tracker.poll() == Gap(1_000.0, 1_010.0)


def test_a_quiet_stream_is_read_after_the_settle_and_again_once_live() -> None:
    tracker = GapTracker(overlap=0.0, settle=0.0)
    two_responses_then_a_cut(tracker)
    assert tracker.wait(threading.Event()) == Gap(11.0, None)
    assert tracker.poll() is None
    tracker.response(30.0, 31.0)
    assert tracker.poll() == Gap(11.0, 30.0)


def test_suppressed_entries_are_read_up_to_the_newest_at_once() -> None:
    tracker = GapTracker(overlap=0.0, settle=NEVER)
    tracker.stream_opened(reconnect=False)
    tracker.response(10.0, 11.0)
    tracker.response(12.0, 13.0)
    tracker.suppressed()
    assert tracker.poll() == Gap(11.0, None)


def test_a_new_scope_reads_only_the_restart_gap() -> None:
    tracker = GapTracker(overlap=5.0, settle=NEVER)
    tracker.stream_opened(reconnect=False)
    tracker.response(100.0, 101.0)
    tracker.response(102.0, 103.0)
    tracker.scope_changed()
    tracker.stream_opened(reconnect=True)
    tracker.response(110.0, 111.0)
    assert tracker.poll() == Gap(103.0, 115.0)


def test_a_failed_read_is_tried_again() -> None:
    tracker = GapTracker(overlap=0.0, settle=NEVER)
    tracker.stream_opened(reconnect=False)
    tracker.response(10.0, 11.0)
    tracker.response(12.0, 13.0)
    # A bounded gap is read again on its own; an open one merges with the
    # next gap, which reads up to the new stream.
    tracker.retry(Gap(5.0, 9.0))
    tracker.retry(Gap(7.0, None))
    tracker.stream_opened(reconnect=True)
    tracker.response(20.0, 21.0)
    assert tracker.poll() == Gap(5.0, 9.0)
    assert tracker.poll() == Gap(7.0, 10.0)
    assert tracker.poll() == Gap(11.0, 20.0)
    assert tracker.poll() is None


def test_a_gap_unread_when_its_stream_is_cut_keeps_its_own_end() -> None:
    # The backfill was busy while stream 2 came and went: stream 2's gap
    # (13 to its first response at 20) is still owed when stream 3 opens.
    # Merged, the next read would cover all stream 2 delivered, again.
    tracker = GapTracker(overlap=0.0, settle=NEVER)
    two_responses_then_a_cut(tracker)
    for start in range(20, 60, 2):
        tracker.response(float(start), start + 1.0)
    tracker.stream_opened(reconnect=True)
    tracker.response(70.0, 71.0)
    assert tracker.poll() == Gap(11.0, 20.0)
    assert tracker.poll() == Gap(57.0, 70.0)
    assert tracker.poll() is None


def test_a_quiet_read_still_owed_keeps_its_rerun_bounded() -> None:
    tracker = GapTracker(overlap=0.0, settle=0.0)
    two_responses_then_a_cut(tracker)
    assert tracker.poll() == Gap(11.0, None)  # settled: read up to the newest
    tracker.response(30.0, 31.0)
    tracker.response(32.0, 33.0)
    # Cut before the bounded re-read of 11 to 30 was taken.
    tracker.stream_opened(reconnect=True)
    assert tracker.poll() == Gap(11.0, 30.0)
    assert tracker.poll() == Gap(31.0, None)


def test_wait_ends_when_stopped() -> None:
    tracker = GapTracker(overlap=0.0, settle=NEVER)
    stop = threading.Event()
    waiter = threading.Thread(target=lambda: tracker.wait(stop))
    waiter.start()
    stop.set()
    tracker.wake()
    waiter.join(5.0)
    assert not waiter.is_alive()


def test_sampler_halves_to_its_minimum_and_recovers_after_a_quiet_spell() -> None:
    now = [0.0]
    sampler = RequestSampler(minimum=0.25, recovery=60.0, clock=lambda: now[0])
    assert sampler.recovered() is None
    assert sampler.rate_limited() == 0.5
    assert sampler.rate_limited() == 0.25
    assert sampler.rate_limited() is None
    assert sampler.sample == 0.25
    now[0] = 59.0
    assert sampler.recovered() is None
    now[0] = 60.0
    assert sampler.recovered() == 0.5
    assert sampler.recovered() is None  # another quiet spell first
    now[0] = 120.0
    assert sampler.recovered() == 1.0
    now[0] = 500.0
    assert sampler.recovered() is None


def test_an_unreadable_entry_keeps_what_can_be_read() -> None:
    entry = request_log(503, insert_id="odd")
    entry.proto_payload.value = b"\xff\xff\xff"
    record = unreadable_record(entry, ValueError("bad bytes"))
    assert record is not None
    assert (record.insert_id, record.status, record.service) == ("odd", 503, "default")
    assert record.text == "[the proto_payload could not be read: bad bytes]"


def _clocked(overlap: float) -> tuple[GapTracker, list[float]]:
    now = [0.0]
    return GapTracker(overlap=overlap, settle=0.0, clock=lambda: now[0]), now


def _settled_after_a_cut(tracker: GapTracker, now: list[float]) -> Gap | None:
    tracker.stream_opened(reconnect=False)
    now[0] = 11.5
    tracker.response(10.0, 11.0)
    now[0] = 13.2  # the smallest delay seen: 0.2 s
    tracker.response(12.0, 13.0)
    tracker.stream_opened(reconnect=True)
    return tracker.poll()


def test_the_re_read_of_a_quiet_gap_skips_what_its_first_read_had() -> None:
    tracker, now = _clocked(overlap=1.0)
    settled = _settled_after_a_cut(tracker, now)
    assert settled == Gap(10.0, None)
    # That read began at 20 here, 19.8 or later on the service's clock, and
    # went to the end: the re-read takes only what came after it began.
    tracker.read_ended(settled, 20.0, None)
    tracker.response(30.0, 31.0)
    assert tracker.poll() == Gap(10.0, 31.0, Resume(18.8))


def test_the_re_read_of_a_broken_off_read_takes_what_it_did_not_reach() -> None:
    tracker, now = _clocked(overlap=1.0)
    settled = _settled_after_a_cut(tracker, now)
    assert settled is not None
    # Broken off after the entries stamped up to 15.
    tracker.read_ended(settled, 20.0, 15.0)
    tracker.response(30.0, 31.0)
    assert tracker.poll() == Gap(10.0, 31.0, Resume(18.8, 14.0))


def test_a_re_read_merged_with_another_gap_is_read_whole() -> None:
    tracker, now = _clocked(overlap=0.0)
    settled = _settled_after_a_cut(tracker, now)
    assert settled is not None
    tracker.read_ended(settled, 20.0, 15.0)
    # The quiet stream is cut in turn before it proved live.
    tracker.stream_opened(reconnect=True)
    assert tracker.poll() == Gap(11.0, None)


def test_a_read_says_nothing_of_a_re_read_it_does_not_own() -> None:
    tracker, now = _clocked(overlap=0.0)
    settled = _settled_after_a_cut(tracker, now)
    assert settled is not None
    tracker.read_ended(Gap(1.0, 2.0), 20.0, None)  # a bounded read
    tracker.read_ended(settled, 5.0, None)  # began before the gap: no help
    tracker.response(30.0, 31.0)
    assert tracker.poll() == Gap(11.0, 30.0)


def test_the_gap_filter_keeps_late_and_unread_entries_of_a_re_read() -> None:
    base = 1_764_000_000.0

    def entry(name: str, stamped: float, received: float) -> Any:
        raw = stderr(name, insert_id=name, at=base + stamped)
        raw.receive_timestamp.FromNanoseconds(int((base + received) * 1e9))
        return raw

    entries = [
        entry("read", 11.0, 11.0),  # the first read had it
        entry("unread", 16.0, 12.0),  # stamped after where it broke off
        entry("late", 3.0, 19.5),  # arrived while it read, stamped long before
        entry("after", 32.0, 32.0),  # the live stream's
        entry("before", 5.0, 5.0),  # before the gap
    ]
    gap = Gap(base + 10.0, base + 31.0, Resume(base + 18.8, base + 14.0))
    predicate = compile_filter(gap_filter("severity>=DEFAULT", gap, 3_600.0))
    assert [raw.insert_id for raw in entries if predicate(raw)] == ["unread", "late"]


class _Store:
    """A GapReader over a list of entries, paged in timestamp order with a
    cursor, as the service pages; ``on_read`` runs after each read."""

    project = "p"

    def __init__(self, entries: list[Any], page_size: int) -> None:
        self.entries = entries
        self.page_size = page_size
        self.delivered: list[list[str]] = []
        self.on_read: Callable[[int], None] = lambda read: None
        self.reads = 0

    def current_filter(self) -> tuple[str, float]:
        return "severity>=DEFAULT", 1.0

    def list_page(self, text: str, page_size: int, page_token: str = "") -> Any:
        self.reads += 1
        predicate = compile_filter(text)

        def key(raw: Any) -> tuple[int, str]:
            return raw.timestamp.ToNanoseconds(), raw.insert_id

        after = tuple(json.loads(page_token)) if page_token else None
        found = sorted(
            (raw for raw in self.entries if predicate(raw)), key=key
        )
        found = [raw for raw in found if after is None or key(raw) > after]
        page = ListLogEntriesResponse.pb()(entries=found[: self.page_size])
        if len(found) > self.page_size:
            page.next_page_token = json.dumps(key(found[self.page_size - 1]))
        self.on_read(self.reads)
        return page

    def deliver(self, entries: Any, sample: float, backfill: bool = False) -> int:
        self.delivered.append([raw.insert_id for raw in entries])
        return len(entries)

    def emit(self, kind: str, message: str, **details: Any) -> None:
        pass


def test_a_broken_off_read_and_its_re_read_together_read_each_entry_once() -> None:
    base = 1_764_000_000.0
    tracker, now = _clocked(overlap=0.0)

    def entry(name: str, stamped: float, received: float | None = None) -> Any:
        raw = stderr(name, insert_id=name, at=base + stamped)
        received = stamped if received is None else received
        raw.receive_timestamp.FromNanoseconds(int((base + received) * 1e9))
        return raw

    tracker.stream_opened(reconnect=False)
    now[0] = base + 12.0
    tracker.response(base + 10.0, base + 11.0)
    tracker.response(base + 11.5, base + 12.0)
    tracker.stream_opened(reconnect=True)  # cut
    # Lost in the cut: received 12.5 to 15.
    store = _Store([entry(f"m{n}", 12.5 + n / 2) for n in range(6)], page_size=2)

    def during_the_read(read: int) -> None:
        if read == 1:
            # Once the first page is read, a request that began at 4 ends
            # and the stream proves live with an entry received at 30.
            store.entries.append(entry("late", 4.0, 20.5))
            now[0] = base + 30.0
            tracker.response(base + 30.0, base + 30.0)

    store.on_read = during_the_read
    backfill = Backfill(tracker, store, TailSettings(backfill_overlap=0.0),
                        threading.Event())
    now[0] = base + 20.0
    settled = tracker.poll()
    assert settled is not None and settled.until is None
    backfill._read(settled, *store.current_filter())
    assert store.delivered == [["m0", "m1"]]  # broken off: the stream is live
    rerun = tracker.poll()
    assert rerun is not None and rerun.resume is not None
    backfill._read(rerun, *store.current_filter())
    assert store.delivered == [["m0", "m1"], ["late", "m1"], ["m2", "m3"], ["m4", "m5"]]


def _cut_while_reading(tracker: GapTracker, now: list[float]) -> Gap:
    """The settle read of a cut's gap runs; meanwhile the quiet stream
    proves live and is cut, so its re-read is queued, ending at 31."""
    settled = _settled_after_a_cut(tracker, now)
    assert settled is not None
    now[0] = 31.5
    tracker.response(30.0, 31.0)
    tracker.stream_opened(reconnect=True)
    return settled


def test_a_re_read_queued_by_a_cut_during_the_read_is_still_limited() -> None:
    tracker, now = _clocked(overlap=1.0)
    settled = _cut_while_reading(tracker, now)
    tracker.read_ended(settled, 20.0, 15.0)
    assert tracker.poll() == Gap(10.0, 31.0, Resume(18.8, 14.0))


def test_a_failed_read_limits_no_re_read() -> None:
    tracker, now = _clocked(overlap=1.0)
    settled = _cut_while_reading(tracker, now)
    tracker.retry(settled)  # the read failed
    tracker.read_ended(settled, 20.0, 15.0)
    assert tracker.poll() == Gap(10.0, 31.0)
