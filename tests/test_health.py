"""Per-version health windows: counts, ratio, latency quantiles, sampling
scale, sliding windows and the minutes handed to the charts."""

from __future__ import annotations

import math
import random

import pytest

from deployconsole.core.health import HealthWindows, VersionRef

T0 = 1_764_000_000.0  # a whole minute


def exact_quantile(values: list[float], quantile: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(quantile * len(ordered)) - 1)]


def test_window_counts_requests_5xx_and_ratio_per_version() -> None:
    health = HealthWindows()
    for n in range(80):
        health.add("default", "v1", T0 + n * 0.5, 200, 0.05)
    for n in range(20):
        health.add("default", "v1", T0 + n * 2, 500, 0.5)
    health.add("default", "v2", T0 + 5, 503, 0.1)
    health.add("api", "v1", T0 + 5, 200, 0.1)

    v1 = health.window("default", "v1", 60, now=T0 + 59.5)
    assert (v1.requests, v1.errors) == (100, 20)
    assert v1.ratio == pytest.approx(0.2)
    assert v1.request_rate == pytest.approx(100 / 60)
    assert v1.error_rate == pytest.approx(20 / 60)
    v2 = health.window("default", "v2", 60, now=T0 + 59.5)
    assert (v2.requests, v2.errors, v2.ratio) == (1, 1, 1.0)
    assert health.window("api", "v1", 60, now=T0 + 59.5).errors == 0
    assert set(health.versions()) == {
        VersionRef("default", "v1"),
        VersionRef("default", "v2"),
        VersionRef("api", "v1"),
    }


def test_sliding_window_covers_the_last_seconds_only() -> None:
    health = HealthWindows()
    for second in range(120):
        health.add("default", "v1", T0 + second + 0.5, 500 if second < 60 else 200, 0.1)
    # Seconds 60..119: no errors.
    late = health.window("default", "v1", 60, now=T0 + 119.9)
    assert (late.requests, late.errors) == (60, 0)
    # Seconds 30..89: half of them failed.
    middle = health.window("default", "v1", 60, now=T0 + 89.2)
    assert (middle.requests, middle.errors) == (60, 30)
    short = health.window("default", "v1", 10, now=T0 + 59.0)
    assert (short.requests, short.errors) == (10, 10)
    # The default end is the newest request seen.
    assert health.watermark == T0 + 119.5
    assert health.window("default", "v1", 60).requests == 60
    assert health.window("default", "nope", 60).requests == 0


def test_latency_quantiles_are_within_two_percent() -> None:
    rng = random.Random(5)
    latencies = [rng.lognormvariate(math.log(0.08), 0.9) for _ in range(20_000)]
    health = HealthWindows()
    for n, latency in enumerate(latencies):
        health.add("default", "v1", T0 + (n % 60), 200, latency)
    window = health.window("default", "v1", 60, now=T0 + 59)
    assert window.latency_p50 is not None and window.latency_p95 is not None
    assert window.latency_p50 == pytest.approx(exact_quantile(latencies, 0.5), rel=0.02)
    assert window.latency_p95 == pytest.approx(
        exact_quantile(latencies, 0.95), rel=0.02
    )
    empty = health.window("default", "v2", 60, now=T0 + 59)
    assert empty.latency_p50 is None and empty.latency_p95 is None


def test_sampled_requests_scale_up_but_errors_count_once() -> None:
    health = HealthWindows()
    # One in four successful request logs was kept; every 5xx was.
    for n in range(25):
        health.add("default", "v1", T0 + n, 200, 0.1, weight=4.0)
    for n in range(10):
        health.add("default", "v1", T0 + n, 500, 0.1, weight=4.0)
    window = health.window("default", "v1", 60, now=T0 + 59)
    assert window.requests == 110
    assert window.errors == 10
    assert window.ratio == pytest.approx(10 / 110)


def test_minutes_group_by_entry_time_even_out_of_order() -> None:
    health = HealthWindows()
    health.add("default", "v1", T0 + 130, 200, 0.1)
    health.add("default", "v1", T0 + 10, 500, 0.1)  # late, for an earlier minute
    health.add("default", "v1", T0 + 65, 200, 0.1)
    health.add("default", "v1", T0 + 70, 502, 0.1)
    minutes = health.minutes("default", "v1")
    assert [(m.start, m.requests, m.errors) for m in minutes] == [
        (T0, 1, 1),
        (T0 + 60, 2, 1),
        (T0 + 120, 1, 0),
    ]
    assert all(m.seconds == 60 for m in minutes)
    assert [m.start for m in health.minutes("default", "v1", since=T0 + 61)] == [
        T0 + 60,
        T0 + 120,
    ]
    assert health.minutes("api", "v1") == []


def test_take_changed_gives_each_touched_minute_once() -> None:
    health = HealthWindows()
    health.add("default", "v1", T0 + 1, 200, 0.1)
    health.add("default", "v1", T0 + 2, 500, 0.1)
    health.add("api", "v3", T0 + 61, 200, 0.1)
    changed = health.take_changed()
    assert [(s.service, s.version, s.start, s.requests) for s in changed] == [
        ("default", "v1", T0, 2),
        ("api", "v3", T0 + 60, 1),
    ]
    assert health.take_changed() == []
    health.add("default", "v1", T0 + 3, 200, 0.1)
    (again,) = health.take_changed()
    # The whole minute as it stands now, not only the new request.
    assert (again.requests, again.errors) == (3, 1)


def test_old_seconds_are_dropped_after_the_retention() -> None:
    health = HealthWindows(retention=120)
    health.add("default", "old", T0, 500, 0.1)
    health.add("default", "v1", T0, 200, 0.1)
    for second in range(1, 400):
        health.add("default", "v1", T0 + second, 200, 0.1)
    assert health.minutes("default", "old") == []
    assert VersionRef("default", "old") not in health.versions()
    kept = health.minutes("default", "v1")
    assert kept[0].start >= T0 + 400 - 120 - 60
    with pytest.raises(ValueError, match="retention"):
        HealthWindows(retention=10)


def test_minutes_kept_as_requests_arrive_equal_the_sum_of_their_seconds() -> None:
    # The charts read each minute from its running sum; it must say what
    # summing the minute's seconds says, latency quantiles included.
    health = HealthWindows()
    rng = random.Random(7)
    for _ in range(3_000):
        at = T0 + rng.uniform(0, 180)
        status = 500 if rng.random() < 0.1 else 200
        health.add("default", "v1", at, status, rng.lognormvariate(-3, 1), 2.0)
    minutes = health.minutes("default", "v1")
    assert [m.start for m in minutes] == [T0, T0 + 60, T0 + 120]
    for minute in minutes:
        summed = health.window("default", "v1", 60, now=minute.start + 59)
        assert summed.start == minute.start
        assert (minute.requests, minute.errors) == pytest.approx(
            (summed.requests, summed.errors)
        )
        assert minute.latency_p50 == summed.latency_p50
        assert minute.latency_p95 == summed.latency_p95


def test_window_without_latency_has_the_same_counts_and_no_quantiles() -> None:
    health = HealthWindows()
    for n in range(100):
        health.add("default", "v1", T0 + n * 0.5, 500 if n % 4 else 200, 0.2)
    full = health.window("default", "v1", 30, now=T0 + 49)
    counts = health.window("default", "v1", 30, now=T0 + 49, latency=False)
    assert (counts.requests, counts.errors) == (full.requests, full.errors)
    assert full.latency_p50 is not None
    assert (counts.latency_p50, counts.latency_p95) == (None, None)


def test_a_minute_is_kept_whole_until_none_of_its_seconds_is() -> None:
    health = HealthWindows(retention=90)
    for second in range(0, 200, 10):
        health.add("default", "v1", T0 + second, 200, 0.1)
    # The last pruning, at T0 + 180, dropped the seconds before T0 + 90: the
    # minute from T0 is gone, the one from T0 + 60 lost half its seconds
    # but is still charted whole.
    kept = {m.start: m.requests for m in health.minutes("default", "v1")}
    assert kept == {T0 + 60: 6, T0 + 120: 6, T0 + 180: 2}
    assert health.window("default", "v1", 60, now=T0 + 119).requests == 3
