"""Where the tail's backfill starts and stops (receive-time cursors), how
request-log sampling moves, and what an unreadable entry becomes."""

from __future__ import annotations

import threading

from test_tail_support import request_log

from deployconsole.gcp.tail_backfill import Gap, GapTracker
from deployconsole.gcp.tail_delivery import unreadable_record
from deployconsole.gcp.tail_support import RequestSampler

NEVER = 1_000.0  # a settle time no test waits for


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
    tracker.stream_opened(reconnect=False)
    tracker.response(10.0, 11.0)
    tracker.response(12.0, 13.0)
    tracker.stream_opened(reconnect=True)
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


def test_a_failed_read_is_tried_again_and_gaps_merge() -> None:
    tracker = GapTracker(overlap=0.0, settle=NEVER)
    tracker.stream_opened(reconnect=False)
    tracker.response(10.0, 11.0)
    tracker.response(12.0, 13.0)
    tracker.retry(Gap(5.0, 9.0))
    tracker.stream_opened(reconnect=True)
    tracker.response(20.0, 21.0)
    assert tracker.poll() == Gap(5.0, 20.0)


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
