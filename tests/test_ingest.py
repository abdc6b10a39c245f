"""The ingest pipeline: records in from any thread, batches out for the GUI
(reassembled records, group updates, health minutes, alerts, stream
events), bounded at every step."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from test_tail_support import KEY_ERROR, request_log, stderr

from deployconsole.core.alerts import ERROR_RATIO, NEW_ERROR_GROUP, AlertSettings
from deployconsole.core.ingest import (
    STREAM_SUPPRESSED,
    IngestPipeline,
    IngestSettings,
    RecordStore,
    StreamEvent,
)
from deployconsole.core.logentry import LogRecord
from deployconsole.core.traceback_model import CONTEXT_SENTENCE
from deployconsole.emulator import tracebacks_corpus as corpus
from deployconsole.gcp.entries import record_from_pb

T0 = 1_764_000_000.0


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def record(entry: Any) -> LogRecord:
    return record_from_pb(entry)


def requests(count: int, status: int = 200, at: float = T0, **kw: Any) -> list[Any]:
    return [
        record(request_log(status, at=at + n * 0.01, insert_id=f"r{status}-{n}", **kw))
        for n in range(count)
    ]


def test_records_come_out_once_in_arrival_order() -> None:
    pipeline = IngestPipeline()
    batch = requests(3) + [record(stderr("plain line", at=T0 + 1, insert_id="s"))]
    pipeline.add_records(batch)
    drained = pipeline.drain()
    assert [r.insert_id for r in drained.records] == [r.insert_id for r in batch]
    assert not pipeline.drain()
    assert pipeline.retained() == 4
    assert [r.insert_id for r in pipeline.records()] == [r.insert_id for r in batch]


def test_split_traceback_is_joined_once_and_grouped() -> None:
    clock = FakeMonotonic()
    pipeline = IngestPipeline(monotonic=clock)
    text = corpus.render(corpus.PY3_DB_ERROR, asctime="2025-11-24 10:00:00,123")
    # One entry for the logger's line, one per chain part, one for the
    # sentence between them: how a log agent cuts stderr.
    lines = text.split("\n")
    cut = lines.index(CONTEXT_SENTENCE)
    parts = [
        lines[0],
        "\n".join(lines[1:cut]).strip(),
        lines[cut],
        "\n".join(lines[cut + 1 :]).strip(),
    ]
    entries = [
        record(stderr(part, at=T0 + n * 0.0001, insert_id=f"part{n}"))
        for n, part in enumerate(parts)
    ]
    other = record(stderr("unrelated", instance="i-9", at=T0, insert_id="other"))
    pipeline.add_records(entries[:2] + [other])
    pipeline.add_records(entries[2:])
    first = pipeline.drain()
    # The preamble line passes on its own; the traceback is held for a
    # possible next part of its chain.
    assert [r.insert_id for r in first.records] == ["part0", "other"]
    assert not first.groups

    clock.now += IngestSettings().reassembly_hold + 0.01
    second = pipeline.drain()
    (joined,) = second.records
    assert joined.insert_id == "part1"
    (traceback,) = joined.tracebacks
    assert [e.type for e in traceback.exceptions] == [
        "KeyError",
        "sqlite3.OperationalError",
    ]
    assert traceback.preamble is not None and "Exception on" in traceback.preamble
    (group,) = second.groups
    assert group.count == 1 and group.versions == ("v1",)
    assert second.new_groups == {group.fingerprint}
    assert pipeline.groups() == [group]


def test_group_updates_carry_the_latest_state_once_per_batch() -> None:
    pipeline = IngestPipeline()
    for n in range(5):
        entry = request_log(500, at=T0 + n, insert_id=f"e{n}", line=KEY_ERROR)
        pipeline.add_records([record(entry)])
    batch = pipeline.drain()
    (group,) = batch.groups
    assert group.count == 5 and group.last_seen == T0 + 4
    pipeline.add_records([record(request_log(500, at=T0 + 9, line=KEY_ERROR))])
    again = pipeline.drain()
    assert again.groups[0].count == 6 and not again.new_groups


def test_health_minutes_scale_sampled_request_logs() -> None:
    pipeline = IngestPipeline()
    pipeline.add_records(requests(10, 200), request_sample=0.25)
    pipeline.add_records(requests(5, 503), request_sample=0.25)
    batch = pipeline.drain()
    (minute,) = batch.health
    assert (minute.service, minute.version) == ("default", "v1")
    assert minute.requests == 45 and minute.errors == 5
    window = pipeline.window("default", "v1", 60)
    assert window.requests == 45
    assert [m.requests for m in pipeline.minutes("default", "v1")] == [45]


def test_errors_only_streams_keep_no_health() -> None:
    pipeline = IngestPipeline(IngestSettings(track_health=False))
    pipeline.add_records(requests(30, 500))
    batch = pipeline.drain()
    assert len(batch.records) == 30
    assert not batch.health and not batch.alerts


def test_ratio_and_new_group_alerts_come_in_the_batch() -> None:
    settings = IngestSettings(alerts=AlertSettings(new_group_grace_seconds=5))
    pipeline = IngestPipeline(settings)
    pipeline.set_traffic({"default": {"v1": 0.0, "v2": 1.0}})
    pipeline.add_records(requests(30, 200, at=T0))
    failing = [
        record(request_log(500, version="v2", at=T0 + 10, insert_id=f"f{n}"))
        for n in range(25)
    ]
    crash = request_log(500, version="v2", at=T0 + 11, insert_id="tb", line=KEY_ERROR)
    pipeline.add_records(failing + [record(crash)])
    pipeline.add_records(requests(30, 500, at=T0 + 12))  # v1 has no traffic
    alerts = pipeline.drain().alerts
    assert [(a.kind, a.version) for a in alerts] == [
        (NEW_ERROR_GROUP, "v2"),
        (ERROR_RATIO, "v2"),
    ]
    pipeline.add_records(failing[:1])
    assert not pipeline.drain().alerts


def test_events_pass_through_in_order() -> None:
    pipeline = IngestPipeline()
    events = [
        StreamEvent("connected", "p", "Tailing project p.", 1.0),
        StreamEvent(STREAM_SUPPRESSED, "p", "12 entries dropped: rate limit", 2.0, 12),
    ]
    for event in events:
        pipeline.add_event(event)
    assert pipeline.drain().events == tuple(events)
    assert not events[0].fatal


def test_a_reader_that_stops_draining_is_told_what_it_missed() -> None:
    pipeline = IngestPipeline(IngestSettings(retained=15, pending=10))
    pipeline.add_records(requests(25))
    batch = pipeline.drain()
    assert [r.insert_id for r in batch.records] == [f"r200-{n}" for n in range(15, 25)]
    assert batch.dropped == 15
    # The store keeps its own bound.
    assert pipeline.retained() == 15
    pipeline.set_retained(5)
    assert [r.insert_id for r in pipeline.records()] == [
        f"r200-{n}" for n in range(20, 25)
    ]
    assert not pipeline.drain().dropped


def test_record_store_is_bounded() -> None:
    store = RecordStore(3)
    for item in requests(5):
        store.append(item)
    assert len(store) == 3 and store.evicted == 2 and store.capacity == 3
    with pytest.raises(ValueError, match="capacity"):
        store.set_capacity(0)
    with pytest.raises(ValueError, match="retained"):
        IngestSettings(retained=0)


def test_wait_wakes_on_arrival_and_times_out_without() -> None:
    pipeline = IngestPipeline()
    assert not pipeline.wait(0.01)
    arrived = threading.Timer(0.05, pipeline.add_records, args=(requests(1),))
    arrived.start()
    assert pipeline.wait(10.0)
    arrived.join()


def test_producers_and_a_reader_at_once() -> None:
    pipeline = IngestPipeline()
    done = threading.Event()
    seen: list[str] = []

    def reader() -> None:
        while not done.is_set() or pipeline.wait(0.0):
            pipeline.wait(0.01)
            seen.extend(r.insert_id for r in pipeline.drain().records)

    def producer(name: str) -> None:
        for chunk in range(20):
            pipeline.add_records(
                [
                    record(request_log(200, at=T0 + n, insert_id=f"{name}-{chunk}-{n}"))
                    for n in range(25)
                ]
            )

    reading = threading.Thread(target=reader)
    reading.start()
    producers = [threading.Thread(target=producer, args=(n,)) for n in "ab"]
    for thread in producers:
        thread.start()
    for thread in producers:
        thread.join()
    done.set()
    reading.join()
    assert len(seen) == 1000 == len(set(seen))
    assert pipeline.window("default", "v1", 60, T0 + 24).requests == 1000


def test_groups_let_go_past_the_limit_are_named_in_the_batch() -> None:
    pipeline = IngestPipeline(IngestSettings(groups=2))

    def error(n: int, insert_id: str) -> LogRecord:
        text = KEY_ERROR.replace("KeyError", f"Error{n}")
        return record(request_log(500, at=T0 + n, insert_id=insert_id, line=text))

    pipeline.add_records([error(0, "a"), error(1, "b")])
    first = pipeline.drain()
    keys = [g.fingerprint for g in first.groups]
    assert len(keys) == 2 and not first.let_go_groups
    # A third group lets the first go; the next drain says so.
    pipeline.add_records([error(2, "c")])
    second = pipeline.drain()
    assert second.let_go_groups == {keys[0]}
    assert [g.type for g in second.groups] == ["Error2"]
    assert {g.fingerprint for g in pipeline.groups()} == {
        keys[1], second.groups[0].fingerprint
    }
    # A group new and let go within one batch never reaches the reader as
    # a group; the one it pushed out is named.
    pipeline.add_records([error(3, "d"), error(4, "e"), error(5, "f")])
    third = pipeline.drain()
    assert [g.type for g in third.groups] == ["Error4", "Error5"]
    assert keys[1] in third.let_go_groups
    assert not {g.fingerprint for g in third.groups} & third.let_go_groups
    with pytest.raises(ValueError, match="groups"):
        IngestSettings(groups=0)


def test_new_alert_thresholds_apply_to_the_next_entries() -> None:
    pipeline = IngestPipeline(IngestSettings())
    pipeline.set_traffic({"default": {"v1": 1.0}})
    strict = AlertSettings.from_thresholds(
        error_ratio=0.5, window_seconds=60, min_requests=100, new_group_alerts=True
    )
    pipeline.set_alert_settings(strict)
    assert pipeline.alert_settings == strict
    # 30 of 50 failed: 60%, but too few requests for these thresholds.
    pipeline.add_records(requests(20, 200) + requests(30, 500, at=T0 + 1))
    assert not pipeline.drain().alerts
    pipeline.set_alert_settings(
        AlertSettings.from_thresholds(
            error_ratio=0.5, window_seconds=60, min_requests=40, new_group_alerts=True
        )
    )
    pipeline.add_records(requests(1, 500, at=T0 + 2))
    (alert,) = pipeline.drain().alerts
    assert alert.kind == ERROR_RATIO and alert.requests == 51
