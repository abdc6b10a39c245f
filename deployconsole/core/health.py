"""Per-version health windows: requests, 5xx, their ratio and latency.

Every request log counts once for its (service, version) in the second of
its timestamp (the time the request started, not when the console saw it),
so out-of-order and backfilled entries land where they belong. Each request
also counts in its minute as it arrives, for the charts; the alert rules sum
a sliding window of the last N seconds.

Request logs may be sampled when the tail is rate-limited: a sampled entry
stands for ``1 / p`` requests, so rates stay right while 5xx responses,
which are never sampled, count once each. Counts are therefore floats.

Latency quantiles come from a log-scaled histogram (buckets 2% wide), so
merging seconds into a minute or a window is a sum and the p50/p95 it gives
is within about 1% of the true value.

Not thread-safe: the ingest pipeline owns one and calls it under its lock.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

# One hour of per-second slots per version is kept; older ones are dropped.
DEFAULT_RETENTION = 3_600.0
MINUTE = 60

_LATENCY_FLOOR = 1e-4  # 0.1 ms: anything faster shares the first bucket
_GROWTH = 1.02
_LOG_GROWTH = math.log(_GROWTH)


@dataclass(frozen=True, slots=True)
class VersionRef:
    """One App Engine version of one service."""

    service: str
    version: str

    def __str__(self) -> str:
        return f"{self.service}/{self.version}"


@dataclass(frozen=True, slots=True)
class HealthSample:
    """A version's requests over ``[start, start + seconds)``.

    ``requests`` and ``errors`` (5xx responses) are estimates when request
    logs were sampled; ``latency_p50``/``latency_p95`` are seconds, None
    without requests.
    """

    service: str
    version: str
    start: float
    seconds: float
    requests: float
    errors: float
    latency_p50: float | None
    latency_p95: float | None

    @property
    def ratio(self) -> float:
        """5xx responses per request; 0.0 without requests."""
        return self.errors / self.requests if self.requests > 0 else 0.0

    @property
    def request_rate(self) -> float:
        """Requests per second over the sample's span."""
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    @property
    def error_rate(self) -> float:
        """5xx responses per second over the sample's span."""
        return self.errors / self.seconds if self.seconds > 0 else 0.0


@dataclass(slots=True)
class _Slot:
    requests: float = 0.0
    errors: float = 0.0
    # Latency bucket index -> weight.
    latencies: dict[int, float] = field(default_factory=dict)


def _bucket(latency: float) -> int:
    if latency <= _LATENCY_FLOOR:
        return 0
    return int(math.log(latency / _LATENCY_FLOOR) / _LOG_GROWTH) + 1


def _bucket_value(index: int) -> float:
    """The geometric middle of a bucket, in seconds."""
    if index <= 0:
        return _LATENCY_FLOOR
    return _LATENCY_FLOOR * _GROWTH ** (index - 0.5)


def _quantiles(
    histogram: dict[int, float], quantiles: tuple[float, ...]
) -> list[float | None]:
    total = sum(histogram.values())
    if total <= 0:
        return [None] * len(quantiles)
    results: list[float | None] = []
    ordered = sorted(histogram.items())
    for quantile in quantiles:
        wanted = quantile * total
        running = 0.0
        value = _bucket_value(ordered[-1][0])
        for index, weight in ordered:
            running += weight
            if running >= wanted:
                value = _bucket_value(index)
                break
        results.append(value)
    return results


def _slot(slots: dict[int, _Slot], key: int) -> _Slot:
    slot = slots.get(key)
    if slot is None:
        slot = slots[key] = _Slot()
    return slot


class _VersionHealth:
    __slots__ = ("minutes", "slots")

    def __init__(self) -> None:
        # Whole seconds since the epoch -> slot, and the same summed per
        # minute (keyed by the minute's first second), kept as requests
        # arrive so that a minute is read without merging its seconds.
        self.slots: dict[int, _Slot] = {}
        self.minutes: dict[int, _Slot] = {}

    def add(
        self, second: int, status: int, latency: float | None, weight: float
    ) -> None:
        index = _bucket(latency) if latency is not None and latency >= 0 else None
        error = 1.0 if status >= 500 else 0.0
        for slot in (
            _slot(self.slots, second),
            _slot(self.minutes, second - second % MINUTE),
        ):
            slot.requests += weight
            slot.errors += error
            if index is not None:
                latencies = slot.latencies
                latencies[index] = latencies.get(index, 0.0) + weight

    def minute(self, ref: VersionRef, start: int) -> HealthSample:
        slot = self.minutes.get(start) or _Slot()
        p50, p95 = _quantiles(slot.latencies, (0.5, 0.95))
        return HealthSample(
            ref.service, ref.version, start, MINUTE, slot.requests, slot.errors,
            p50, p95,
        )

    def summary(
        self, ref: VersionRef, start: float, seconds: float, latency: bool = True
    ) -> HealthSample:
        first, end = math.floor(start), math.floor(start + seconds)
        requests = errors = 0.0
        histogram: dict[int, float] = {}
        slots = self.slots
        if end - first <= len(slots):
            chosen: Iterable[_Slot] = (
                slots[s] for s in range(first, end) if s in slots
            )
        else:
            chosen = (slot for s, slot in slots.items() if first <= s < end)
        for slot in chosen:
            requests += slot.requests
            errors += slot.errors
            if latency:
                for index, weight in slot.latencies.items():
                    histogram[index] = histogram.get(index, 0.0) + weight
        p50, p95 = _quantiles(histogram, (0.5, 0.95))
        return HealthSample(
            ref.service, ref.version, start, seconds, requests, errors, p50, p95
        )


class HealthWindows:
    """Request counts, 5xx and latency per version, per second of entry time.

    ``add`` takes one request; ``minutes`` and ``window`` read them back;
    ``take_changed`` gives the minutes touched since its last call, which is
    what the GUI needs to redraw.
    """

    def __init__(self, retention: float = DEFAULT_RETENTION) -> None:
        if retention < MINUTE:
            raise ValueError(f"retention must be at least {MINUTE} s, not {retention}")
        self.retention = retention
        self._versions: dict[VersionRef, _VersionHealth] = {}
        self._changed: set[tuple[VersionRef, int]] = set()
        self._watermark: float | None = None
        self._pruned_at = 0

    @property
    def watermark(self) -> float | None:
        """The latest request time seen (epoch seconds), None before any."""
        return self._watermark

    def versions(self) -> list[VersionRef]:
        return list(self._versions)

    def add(
        self,
        service: str,
        version: str,
        timestamp: float,
        status: int,
        latency: float | None,
        weight: float = 1.0,
    ) -> None:
        """Count one request (``weight`` requests when sampled) that started
        at ``timestamp``; 5xx responses always count once."""
        ref = VersionRef(service, version)
        health = self._versions.get(ref)
        if health is None:
            health = self._versions[ref] = _VersionHealth()
        second = math.floor(timestamp)
        # Errors are never sampled away, so each stands for itself.
        health.add(second, status, latency, 1.0 if status >= 500 else weight)
        self._changed.add((ref, second - second % MINUTE))
        if self._watermark is None or timestamp > self._watermark:
            self._watermark = timestamp
            if second - self._pruned_at >= MINUTE:
                self._prune(second)

    def window(
        self,
        service: str,
        version: str,
        seconds: float,
        now: float | None = None,
        *,
        latency: bool = True,
    ) -> HealthSample:
        """The last ``seconds`` up to ``now`` (default: the watermark).

        ``latency=False`` leaves the quantiles out (None): the counts alone
        cost a sum per second, where merging the latency histograms of a
        minute of seconds costs about a millisecond, too much to pay on
        every batch for rules that read only the ratio."""
        end = now if now is not None else (self._watermark or 0.0)
        # The second ``end`` falls in is still filling; include it.
        end = math.floor(end) + 1
        ref = VersionRef(service, version)
        health = self._versions.get(ref) or _VersionHealth()
        return health.summary(ref, end - seconds, seconds, latency)

    def minutes(
        self, service: str, version: str, since: float | None = None
    ) -> list[HealthSample]:
        """Every minute with requests, oldest first (from ``since`` on)."""
        ref = VersionRef(service, version)
        health = self._versions.get(ref)
        if health is None:
            return []
        starts = sorted(health.minutes)
        if since is not None:
            starts = [m for m in starts if m + MINUTE > since]
        return [health.minute(ref, m) for m in starts]

    def take_changed(self) -> list[HealthSample]:
        """The minutes that changed since the last call, as they are now."""
        changed, self._changed = self._changed, set()
        samples = []
        for ref, minute in sorted(
            changed, key=lambda item: (item[1], item[0].service, item[0].version)
        ):
            health = self._versions.get(ref)
            if health is not None:
                samples.append(health.minute(ref, minute))
        return samples

    def _prune(self, now_second: int) -> None:
        self._pruned_at = now_second
        oldest = now_second - int(self.retention)
        for ref, health in list(self._versions.items()):
            for second in [s for s in health.slots if s < oldest]:
                del health.slots[second]
            # A minute goes once none of its seconds is kept.
            for minute in [m for m in health.minutes if m + MINUTE <= oldest]:
                del health.minutes[minute]
            if not health.slots:
                del self._versions[ref]
