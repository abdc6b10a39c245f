"""The emulator's log store: every written entry, in timestamp order, and the
live tail subscriptions that see new entries as they are written.

Writers (WriteLogEntries, the scenario engine, the admin handlers' audit
logs) call ``write`` from any thread. Entries are raw
``google.logging.v2.LogEntry`` protobuf messages; the store takes ownership
and fills what the service fills (insert_id, receive_timestamp, timestamp).
"""

from __future__ import annotations

import bisect
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from deployconsole.emulator.state import EmulatorState

log = logging.getLogger("deployconsole.emulator.logs")

# (timestamp in ns, insert_id, arrival sequence): the service's list order
# (timestamp, then insert_id), made unique by the arrival sequence.
Key = tuple[int, str, int]

# A long demo writes thousands of entries a second; without a bound the
# store would grow until the machine swaps. The oldest entries go first, as
# they would leave the real service's retention window first.
DEFAULT_RETENTION = 500_000


class StoreClosed(Exception):
    """The emulator is stopping; no new tail sessions."""


class TooManySessions(Exception):
    """More live tail sessions than the service allows at once."""


@dataclass
class TailSettings:
    """Limits of live tail sessions, settable while serving."""

    # Entries a session may have waiting to be sent; beyond it new entries
    # are dropped and reported as NOT_CONSUMED rather than queued without
    # bound behind a client that does not read.
    max_queue: int = 50_000
    # Most entries in one TailLogEntriesResponse.
    batch_size: int = 1_000
    # The service's per-session ingestion limit; beyond it entries are
    # reported as RATE_LIMIT. 0 turns the limit off (benchmarks).
    entries_per_minute: int = 60_000
    # Live sessions allowed at once (the service allows 10 per project).
    max_sessions: int = 10


@dataclass(frozen=True)
class TailBatch:
    """Entries released to a session (timestamp order) and what it missed."""

    entries: list[Any]
    rate_limited: int
    not_consumed: int


def entry_sort_key(entry: Any) -> tuple[int, int, str]:
    ts = entry.timestamp
    return ts.seconds, ts.nanos, entry.insert_id


class Subscription:
    """One tail session's bounded queue; fed by writers, drained by its RPC."""

    def __init__(
        self,
        predicate: Callable[[Any], bool],
        parents: tuple[str, ...],
        settings: TailSettings,
    ) -> None:
        self._predicate = predicate
        # Entries belong to a parent resource through their log name.
        self._prefixes = tuple(parent + "/logs/" for parent in parents)
        self._max_queue = settings.max_queue
        self._per_second = settings.entries_per_minute / 60.0
        self._tokens = float(settings.entries_per_minute)
        self._refilled = time.monotonic()
        self._cond = threading.Condition(threading.Lock())
        self._queue: deque[tuple[float, Any]] = deque()
        self._rate_limited = 0
        self._not_consumed = 0
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def offer(self, entries: Sequence[Any], arrival: float) -> None:
        prefixes, predicate = self._prefixes, self._predicate
        try:
            matching = [
                e for e in entries if e.log_name.startswith(prefixes) and predicate(e)
            ]
        except Exception:
            # One entry the filter cannot read (say, a payload that does not
            # decode) must cost only that entry, and never break the writer.
            matching = [e for e in entries if self._matches_safely(e)]
        if not matching:
            return
        with self._cond:
            allowed = self._admit(len(matching), arrival)
            room = max(0, self._max_queue - len(self._queue))
            taken = min(allowed, room)
            self._not_consumed += allowed - taken
            self._queue.extend((arrival, e) for e in matching[:taken])
            self._cond.notify()

    def _matches_safely(self, entry: Any) -> bool:
        try:
            return bool(
                entry.log_name.startswith(self._prefixes) and self._predicate(entry)
            )
        except Exception:
            log.warning(
                "Tail filter could not read entry %s; it is not offered.",
                entry.insert_id,
                exc_info=True,
            )
            return False

    def _admit(self, count: int, now: float) -> int:
        """How many of ``count`` entries the rate limit lets through."""
        if self._per_second <= 0:
            return count
        capacity = self._per_second * 60.0
        self._tokens = min(
            capacity, self._tokens + (now - self._refilled) * self._per_second
        )
        self._refilled = now
        allowed = min(count, int(self._tokens))
        self._tokens -= allowed
        self._rate_limited += count - allowed
        return allowed

    def next_batch(self, window: float, limit: int) -> TailBatch | None:
        """Block until entries have waited ``window`` seconds (so late
        arrivals can be put in order) or something was suppressed; None once
        the subscription is closed."""
        with self._cond:
            while not self._closed:
                now = time.monotonic()
                queue = self._queue
                ready: list[Any] = []
                while queue and len(ready) < limit and queue[0][0] <= now - window:
                    ready.append(queue.popleft()[1])
                if ready and queue and len(ready) < limit:
                    self._take_late_arrivals(ready, limit)
                if ready or self._rate_limited or self._not_consumed:
                    ready.sort(key=entry_sort_key)
                    batch = TailBatch(ready, self._rate_limited, self._not_consumed)
                    self._rate_limited = self._not_consumed = 0
                    return batch
                timeout = queue[0][0] + window - now if queue else None
                self._cond.wait(timeout)
            return None

    def _take_late_arrivals(self, ready: list[Any], limit: int) -> None:
        """Move queued entries stamped no later than the newest ready one into
        ``ready``: they arrived late, and sending them now keeps the stream in
        timestamp order across responses too."""
        cutoff = max(entry_sort_key(e) for e in ready)
        kept: deque[tuple[float, Any]] = deque()
        for item in self._queue:
            if len(ready) < limit and entry_sort_key(item[1]) <= cutoff:
                ready.append(item[1])
            else:
                kept.append(item)
        self._queue = kept

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


class LogStore:
    """All entries of the emulated projects, plus live tail subscriptions."""

    def __init__(
        self, state: EmulatorState, retention: int = DEFAULT_RETENTION
    ) -> None:
        self.state = state
        self.retention = retention
        self.tail = TailSettings()
        self._lock = threading.Lock()
        self._keys: list[Key] = []
        self._entries: list[Any] = []
        self._sequence = 0
        # Real insert IDs end in a per-writer part; one per store suffices.
        bits = random.Random(state.config.project_id).getrandbits(40)
        self._id_suffix = f"{bits:010x}"
        self._id_counter = 0
        self._subscriptions: tuple[Subscription, ...] = ()
        self._sessions = threading.Condition()
        self._closed = False

    def __len__(self) -> int:
        return len(self._keys)

    @property
    def entries(self) -> list[Any]:
        """A snapshot of every kept entry, oldest timestamp first."""
        with self._lock:
            return list(self._entries)

    def write(self, entries: Sequence[Any]) -> None:
        """Keep ``entries`` (raw LogEntry messages, now owned by the store)
        and hand them to live tail sessions. Thread-safe."""
        if not entries:
            return
        now = self.state.clock.now()
        seconds = int(now)
        nanos = int((now - seconds) * 1e9)
        with self._lock:
            for entry in entries:
                self._add(entry, seconds, nanos)
            if len(self._keys) > self.retention:
                # Trim 5% below the bound so trimming (a list shift) is rare.
                excess = len(self._keys) - self.retention + self.retention // 20
                del self._keys[:excess]
                del self._entries[:excess]
        arrival = time.monotonic()
        for subscription in self._subscriptions:
            subscription.offer(entries, arrival)

    def _add(self, entry: Any, seconds: int, nanos: int) -> None:
        if not entry.insert_id:
            # Time first, then a counter: entries written without an ID sort
            # in write order, as the service promises.
            self._id_counter = (self._id_counter + 1) % 0x1000000
            entry.insert_id = f"{seconds:08x}{self._id_counter:06x}{self._id_suffix}"
        received = entry.receive_timestamp
        received.seconds, received.nanos = seconds, nanos
        ts = entry.timestamp
        if not entry.HasField("timestamp"):
            ts.seconds, ts.nanos = seconds, nanos
        self._sequence += 1
        key = (ts.seconds * 1_000_000_000 + ts.nanos, entry.insert_id, self._sequence)
        keys = self._keys
        if not keys or key > keys[-1]:
            keys.append(key)
            self._entries.append(entry)
        else:
            index = bisect.bisect_right(keys, key)
            keys.insert(index, key)
            self._entries.insert(index, entry)

    def scan(
        self, cursor: Key | None, descending: bool, limit: int
    ) -> list[tuple[Key, Any]]:
        """Up to ``limit`` entries after ``cursor`` in list order (newest
        first when ``descending``). A cursor stays meaningful however many
        entries arrive or expire, which is what keeps page tokens valid."""
        with self._lock:
            keys, entries = self._keys, self._entries
            if not descending:
                start = 0 if cursor is None else bisect.bisect_right(keys, cursor)
                return list(
                    zip(
                        keys[start : start + limit],
                        entries[start : start + limit],
                        strict=True,
                    )
                )
            end = len(keys) if cursor is None else bisect.bisect_left(keys, cursor)
            start = max(0, end - limit)
            chunk = list(zip(keys[start:end], entries[start:end], strict=True))
        chunk.reverse()
        return chunk

    def subscribe(
        self, predicate: Callable[[Any], bool], parents: tuple[str, ...]
    ) -> Subscription:
        """A tail subscription for entries written from now on."""
        with self._sessions:
            if self._closed:
                raise StoreClosed("the emulator is stopping")
            if len(self._subscriptions) >= self.tail.max_sessions:
                raise TooManySessions(
                    f"at most {self.tail.max_sessions} tail sessions may be open"
                )
            subscription = Subscription(predicate, parents, self.tail)
            # Copy-on-write: writers iterate the tuple without a lock.
            self._subscriptions = self._subscriptions + (subscription,)
            self._sessions.notify_all()
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        subscription.close()
        with self._sessions:
            self._subscriptions = tuple(
                s for s in self._subscriptions if s is not subscription
            )
            self._sessions.notify_all()

    def session_count(self) -> int:
        return len(self._subscriptions)

    def wait_for_sessions(self, count: int, timeout: float) -> bool:
        """Wait until exactly ``count`` tail sessions are open (tests, bench)."""
        with self._sessions:
            return self._sessions.wait_for(
                lambda: len(self._subscriptions) == count, timeout
            )

    def close(self) -> None:
        """End every tail session cleanly; the emulator is stopping."""
        with self._sessions:
            self._closed = True
            subscriptions = self._subscriptions
        for subscription in subscriptions:
            subscription.close()
        log.debug("Log store closed with %d entries kept.", len(self._keys))
