"""Small parts of the live tail: settings, read quota, insert_id dedupe,
backoff, error descriptions."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from google.api_core import exceptions as api_exceptions


@dataclass(frozen=True)
class TailSettings:
    """Timings and limits of a tail session."""

    # Seconds the service holds entries to send them in order; small so that
    # an error reaches the screen well within a second.
    buffer_window: float = 0.2
    # Receive-time seconds re-read before the backfill cursor, for the
    # service's clocks not being one clock.
    backfill_overlap: float = 1.0
    # Entries stamped more than this before they arrived are not backfilled.
    late_allowance: float = 3_600.0
    # Seconds a new, quiet stream gets to prove live before its gap is read.
    backfill_settle: float = 1.0
    backfill_page_size: int = 1_000
    backfill_max_pages: int = 30
    reads_per_minute: float = 30.0
    read_burst: float = 30.0
    dedupe_capacity: int = 200_000
    backoff_initial: float = 0.2
    backoff_max: float = 30.0
    min_sample: float = 1 / 64
    # Seconds without rate-limit suppression before the sample doubles.
    sample_recovery: float = 120.0
    # The service's own limit on one stream; the session reconnects after.
    stream_timeout: float = 3_600.0
    call_timeout: float = 30.0


class Stopped(Exception):
    """The session was stopped while waiting for a read."""


def describe(error: BaseException) -> str:
    """A short description of a call failure for the user."""
    if isinstance(error, api_exceptions.GoogleAPICallError):
        code = error.grpc_status_code
        name = code.name if code is not None else type(error).__name__
        return f"{name}: {str(error.message).rstrip('.')}"
    return str(error) or type(error).__name__


class ReadQuota:
    """A token bucket for ListLogEntries calls.

    Cloud Logging allows 60 reads a minute per project, shared with every
    other reader of the project (the console's own views, gcloud). A full
    bucket of ``burst`` reads refills at ``per_minute`` a minute, so at most
    ``burst + per_minute`` reads happen in any minute; the defaults keep the
    tail to half the project's quota.
    """

    def __init__(
        self,
        per_minute: float = 30.0,
        burst: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if per_minute <= 0 or burst < 1:
            raise ValueError(
                f"a read quota needs per_minute > 0 and burst >= 1, not "
                f"{per_minute} and {burst}"
            )
        self._rate = per_minute / 60.0
        self._burst = float(burst)
        self._tokens = float(burst)
        self._clock = clock
        self._updated = clock()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self._clock()
        refill = (now - self._updated) * self._rate
        self._tokens = min(self._burst, self._tokens + refill)
        self._updated = now

    def wait_time(self) -> float:
        """Seconds until a read may be made (0.0: now)."""
        with self._lock:
            self._refill()
            if self._tokens >= 1.0:
                return 0.0
            return (1.0 - self._tokens) / self._rate

    def try_take(self) -> bool:
        with self._lock:
            self._refill()
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True
            return False

    def take(self, stop: threading.Event) -> bool:
        """Wait for a read; False if ``stop`` was set first."""
        while not self.try_take():
            if stop.wait(self.wait_time()):
                return False
        return True


class InsertIdWindow:
    """The insert_ids seen lately, to drop entries that arrive twice.

    Two generations of at most ``capacity // 2`` ids each: when the newer
    one fills, the older is forgotten. Memory stays bounded while every id
    is remembered for at least the last ``capacity // 2`` entries, which
    covers the overlap of a reconnect's backfill with the live stream.
    """

    def __init__(self, capacity: int = 200_000) -> None:
        if capacity < 2:
            raise ValueError(f"capacity must be at least 2, not {capacity}")
        self._half = capacity // 2
        self._current: set[str] = set()
        self._previous: set[str] = set()

    def __len__(self) -> int:
        return len(self._current) + len(self._previous)

    def add(self, insert_id: str) -> bool:
        """Remember ``insert_id``; False if it was already seen."""
        if insert_id in self._current or insert_id in self._previous:
            return False
        if len(self._current) >= self._half:
            self._previous = self._current
            self._current = set()
        self._current.add(insert_id)
        return True


class Backoff:
    """Exponential reconnect delays with jitter, reset after a good stream."""

    def __init__(
        self,
        initial: float = 0.2,
        maximum: float = 30.0,
        rng: random.Random | None = None,
    ) -> None:
        self.initial = initial
        self.maximum = maximum
        self._attempt = 0
        self._rng = rng or random.Random()

    def reset(self) -> None:
        self._attempt = 0

    def next_delay(self) -> float:
        ceiling = min(self.maximum, self.initial * 2**self._attempt)
        self._attempt = min(self._attempt + 1, 30)
        # Half fixed, half random: sessions of several consoles do not all
        # come back in the same instant.
        return ceiling * (0.5 + 0.5 * self._rng.random())


class RequestSampler:
    """The fraction of request logs a rate-limited tail asks for.

    Each rate-limit suppression halves it (down to ``minimum``); after
    ``recovery`` seconds without one it doubles again, up to all of them.
    Not thread-safe: the session calls it under its lock.
    """

    def __init__(
        self,
        minimum: float,
        recovery: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sample = 1.0
        self.minimum = minimum
        self.recovery = recovery
        self._clock = clock
        self._last_limited = 0.0

    def rate_limited(self) -> float | None:
        """The lower sample to switch to, or None if already at the minimum."""
        self._last_limited = self._clock()
        lower = max(self.minimum, self.sample / 2)
        if lower >= self.sample:
            return None
        self.sample = lower
        return lower

    def recovered(self) -> float | None:
        """The higher sample to switch to after a quiet spell, or None."""
        now = self._clock()
        if self.sample >= 1.0 or now - self._last_limited < self.recovery:
            return None
        self.sample = min(1.0, self.sample * 2)
        self._last_limited = now
        return self.sample
