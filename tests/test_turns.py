"""The GUI thread's turns: workers pause between chunks while it has one."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest
from google.cloud.logging_v2.types import LogEntry

from deployconsole.core.ingest import StreamEvent
from deployconsole.core.logentry import LogRecord
from deployconsole.core.turns import ForegroundTurns, NoTurns
from deployconsole.gcp.tail_delivery import CHUNK, Delivery


def test_wait_returns_at_once_when_no_turn_is_on() -> None:
    turns = ForegroundTurns(max_wait=5.0)
    assert not turns.taken
    assert turns.wait()


def test_wait_ends_when_the_turn_is_given_back() -> None:
    turns = ForegroundTurns(max_wait=30.0)
    turns.take()
    assert turns.taken
    done = threading.Event()
    answers: list[bool] = []

    def worker() -> None:
        answers.append(turns.wait())
        done.set()

    thread = threading.Thread(target=worker, daemon=True)
    thread.start()
    assert not done.wait(0.05)  # still waiting: the turn is on
    turns.give_back()
    assert done.wait(10.0)
    assert answers == [True]


def test_wait_never_lasts_longer_than_max_wait() -> None:
    turns = ForegroundTurns(max_wait=0.02)
    turns.take()
    started = time.monotonic()
    assert turns.wait() is False
    # Bounded from below only: the machine may be slow, never the wait short.
    assert time.monotonic() - started >= 0.015


def test_max_wait_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_wait must be positive"):
        ForegroundTurns(max_wait=0)


def test_no_turns_never_hold_workers() -> None:
    turns = NoTurns()
    turns.take()
    assert not turns.taken
    assert turns.wait()


class RecordingSink:
    """A sink that notes, per call, its size and whether a turn was on."""

    def __init__(self, turns: ForegroundTurns) -> None:
        self.turns = turns
        self.calls: list[tuple[int, bool]] = []
        self.insert_ids: list[str] = []

    def add_records(
        self, records: Sequence[LogRecord], request_sample: float = 1.0
    ) -> None:
        self.calls.append((len(records), self.turns.taken))
        self.insert_ids.extend(record.insert_id for record in records)

    def add_event(self, event: StreamEvent) -> None:
        pass


def entries(count: int) -> list[Any]:
    out = []
    for n in range(count):
        entry = LogEntry.pb()()
        entry.insert_id = f"e{n:05d}"
        entry.text_payload = f"line {n}"
        out.append(entry)
    return out


def test_delivery_hands_over_in_chunks_in_order() -> None:
    turns = ForegroundTurns()
    sink = RecordingSink(turns)
    delivery = Delivery("p", sink, 10_000, turns)
    count = CHUNK * 3 + 5
    assert delivery.deliver(entries(count), 1.0) == count
    assert [size for size, _ in sink.calls] == [CHUNK, CHUNK, CHUNK, 5]
    assert sink.insert_ids == [f"e{n:05d}" for n in range(count)]


def test_delivery_waits_for_the_turn_before_each_chunk() -> None:
    turns = ForegroundTurns(max_wait=30.0)
    sink = RecordingSink(turns)
    delivery = Delivery("p", sink, 10_000, turns)
    turns.take()
    finished = threading.Event()

    def deliver() -> None:
        delivery.deliver(entries(CHUNK * 2), 1.0)
        finished.set()

    thread = threading.Thread(target=deliver, daemon=True)
    thread.start()
    assert not finished.wait(0.05)
    assert sink.calls == []  # nothing converted while the GUI has its turn
    turns.give_back()
    assert finished.wait(10.0)
    assert sink.calls == [(CHUNK, False), (CHUNK, False)]


def test_delivery_without_turns_never_waits() -> None:
    sink = RecordingSink(ForegroundTurns())
    delivery = Delivery("p", sink, 10_000)
    assert delivery.deliver(entries(3), 1.0) == 3
    assert sink.insert_ids == ["e00000", "e00001", "e00002"]


def test_live_errors_give_the_turn_back_after_the_repaint(qtbot: Any) -> None:
    from deployconsole.core.ingest import IngestSettings
    from deployconsole.core.logentry import build_record
    from deployconsole.gcp.channel import Endpoint
    from deployconsole.ui.live.controller import LiveErrors

    live = LiveErrors(Endpoint("p"), ingest_settings=IngestSettings())
    record = build_record("id-1", 1.0, "projects/p/logs/stderr", "", "s", "v", "", "")
    live.pipeline.add_records([record])
    live._on_tick()
    # Applied; the turn stays taken until the events the batch caused
    # (the repaint among them) have run.
    assert live.records.rowCount() == 1
    assert live.turns.taken
    qtbot.waitUntil(lambda: not live.turns.taken, timeout=5_000)

    live._on_tick()  # nothing new: nothing to repaint, the turn ends at once
    assert not live.turns.taken

    # Stopping gives a turn back at once: the tail threads must not wait on
    # it while they wind down.
    live.pipeline.add_records([record])
    live._on_tick()
    assert live.turns.taken
    live.stop()
    assert not live.turns.taken
