"""The live ingest path: log records in, GUI-sized batches out.

The tail's worker thread calls :meth:`IngestPipeline.add_records` with
normalised records; each goes through traceback reassembly, then into the
error groups, the per-version health windows and the bounded record store,
and the alert rules look at the result. Everything produced is queued in a
pending batch that the GUI takes with :meth:`IngestPipeline.drain` from a
timer (every 100 ms or less) and the terminal with a ``wait``/``drain``
loop. The pending batch is bounded too: a reader that stops draining loses
the oldest pending records (the store still has them) and is told how many.

No Qt here: the GUI's timer is the only bridge, so widgets are touched on
the GUI thread only and in batches.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from deployconsole.core.alerts import Alert, AlertRules, AlertSettings
from deployconsole.core.groups import ErrorGroup, ErrorGroups
from deployconsole.core.health import HealthSample, HealthWindows
from deployconsole.core.logentry import KIND_REQUEST, LogRecord
from deployconsole.core.reassembly import Reassembler

DEFAULT_RETAINED = 100_000
# Error groups kept; past it the least recently seen is let go.
DEFAULT_GROUPS = 5_000
# Records waiting for a reader; a GUI drains ten times a second, so this is
# minutes of a busy stream.
DEFAULT_PENDING = 200_000

# Stream event kinds.
STREAM_CONNECTING = "connecting"
STREAM_CONNECTED = "connected"
STREAM_RECONNECTING = "reconnecting"
STREAM_BACKFILLED = "backfilled"
STREAM_SUPPRESSED = "suppressed"
STREAM_SAMPLING = "sampling"
STREAM_UNREADABLE = "unreadable"
STREAM_FAILED = "failed"
STREAM_STOPPED = "stopped"


@dataclass(frozen=True)
class StreamEvent:
    """Something the user should know about the live stream.

    ``message`` is a sentence for the status bar. ``count`` is the number of
    entries concerned (suppressed, backfilled), ``reason`` the service's
    words for it ("rate limit") or the failing status code, ``sample`` the
    fraction of request logs the stream now keeps, ``retry_in`` the seconds
    before a reconnect. ``at`` is wall-clock epoch seconds.
    """

    kind: str
    project: str
    message: str
    at: float
    count: int = 0
    reason: str = ""
    sample: float = 1.0
    retry_in: float | None = None

    @property
    def fatal(self) -> bool:
        """The stream gave up (permission, bad filter) and will not retry."""
        return self.kind == STREAM_FAILED


class TailSink(Protocol):
    """Where a tail session delivers; called from its worker threads."""

    def add_records(
        self, records: Sequence[LogRecord], request_sample: float = 1.0
    ) -> None: ...

    def add_event(self, event: StreamEvent) -> None: ...


@dataclass(frozen=True)
class IngestBatch:
    """Everything since the previous drain, oldest first.

    ``records`` are complete (reassembled) records; ``groups`` the error
    groups that changed, as they stand now (one per fingerprint);
    ``new_groups`` the fingerprints among them seen for the first time;
    ``let_go_groups`` the fingerprints of groups let go to stay within the
    group limit (a group among ``groups`` too was let go, then seen anew:
    its old row goes first); ``health`` the per-version minutes that
    changed; ``dropped`` how many records were pushed out of the pending
    batch before this drain.
    """

    records: tuple[LogRecord, ...] = ()
    groups: tuple[ErrorGroup, ...] = ()
    new_groups: frozenset[str] = frozenset()
    let_go_groups: frozenset[str] = frozenset()
    health: tuple[HealthSample, ...] = ()
    alerts: tuple[Alert, ...] = ()
    events: tuple[StreamEvent, ...] = ()
    dropped: int = 0

    def __bool__(self) -> bool:
        return bool(
            self.records or self.groups or self.let_go_groups or self.health
            or self.alerts or self.events or self.dropped
        )


@dataclass(frozen=True)
class IngestSettings:
    """Sizes and timings of the ingest path (each one a user setting)."""

    retained: int = DEFAULT_RETAINED
    pending: int = DEFAULT_PENDING
    groups: int = DEFAULT_GROUPS
    # Seconds a complete traceback is held for a next part of its chain:
    # parts of one write come in one tail response, and the next response
    # follows within the tail's buffer window (0.2 s).
    reassembly_hold: float = 0.5
    # Seconds of entry time between the parts of one split traceback.
    reassembly_gap: float = 2.0
    # Off when the stream carries no healthy request logs (errors only):
    # 5xx alone would read as a 100% error ratio.
    track_health: bool = True
    alerts: AlertSettings = field(default_factory=AlertSettings)

    def __post_init__(self) -> None:
        if self.retained < 1 or self.pending < 1 or self.groups < 1:
            raise ValueError(
                f"retained, pending and groups must be at least 1, not "
                f"{self.retained}, {self.pending} and {self.groups}"
            )


class RecordStore:
    """The newest ``capacity`` complete records; the oldest go first."""

    def __init__(self, capacity: int = DEFAULT_RETAINED) -> None:
        self._records: deque[LogRecord] = deque(maxlen=capacity)
        self.evicted = 0

    @property
    def capacity(self) -> int:
        assert self._records.maxlen is not None
        return self._records.maxlen

    def __len__(self) -> int:
        return len(self._records)

    def append(self, record: LogRecord) -> None:
        if len(self._records) == self.capacity:
            self.evicted += 1
        self._records.append(record)

    def set_capacity(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, not {capacity}")
        kept = list(self._records)[-capacity:]
        self.evicted += len(self._records) - len(kept)
        self._records = deque(kept, maxlen=capacity)

    def snapshot(self) -> list[LogRecord]:
        return list(self._records)


class _Pending:
    __slots__ = (
        "records", "groups", "new_groups", "let_go", "alerts", "events", "dropped"
    )

    def __init__(self, limit: int) -> None:
        self.records: deque[LogRecord] = deque(maxlen=limit)
        self.groups: dict[str, ErrorGroup] = {}
        self.new_groups: set[str] = set()
        self.let_go: set[str] = set()
        self.alerts: list[Alert] = []
        self.events: list[StreamEvent] = []
        self.dropped = 0


class IngestPipeline:
    """Record → reassembly → groups + health + store → alerts → batches.

    Thread-safe: any number of producer threads (the tail and its backfill)
    and one reader. Implements :class:`TailSink`.
    """

    def __init__(
        self,
        settings: IngestSettings | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings or IngestSettings()
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._reassembler = Reassembler(
            gap=self.settings.reassembly_gap, hold=self.settings.reassembly_hold
        )
        self._groups = ErrorGroups(limit=self.settings.groups)
        self._health = HealthWindows()
        self._rules = AlertRules(self.settings.alerts)
        self._store = RecordStore(self.settings.retained)
        self._pending = _Pending(self.settings.pending)

    # -- producers -------------------------------------------------------

    def add_records(
        self, records: Sequence[LogRecord], request_sample: float = 1.0
    ) -> None:
        """Take records as the stream delivered them; ``request_sample`` is
        the fraction of request logs the stream kept (errors are all kept)."""
        if not records:
            return
        weight = 1.0 / request_sample if 0.0 < request_sample < 1.0 else 1.0
        now = self._monotonic()
        track_health = self.settings.track_health
        with self._lock:
            health = self._health
            feed = self._reassembler.feed
            for record in records:
                if (
                    track_health
                    and record.kind == KIND_REQUEST
                    and record.status is not None
                    and record.timestamp is not None
                ):
                    health.add(
                        record.service, record.version, record.timestamp,
                        record.status, record.latency, weight,
                    )
                for done in feed(record, now):
                    self._complete(done)
            self._flush(now)
            self._check_ratios()
            self._arrived.notify_all()

    def add_event(self, event: StreamEvent) -> None:
        with self._lock:
            self._pending.events.append(event)
            self._arrived.notify_all()

    # -- settings the GUI changes ------------------------------------------

    def set_traffic(self, splits: Mapping[str, Mapping[str, float]] | None) -> None:
        """The live splits (service -> version -> allocation) for the alert
        rules' "version with traffic"; None when unknown."""
        with self._lock:
            self._rules.set_traffic(splits)

    @property
    def alert_settings(self) -> AlertSettings:
        with self._lock:
            return self._rules.settings

    def set_alert_settings(self, settings: AlertSettings) -> None:
        """New thresholds, for the entries that come next."""
        with self._lock:
            self._rules.set_settings(settings)

    def set_retained(self, capacity: int) -> None:
        with self._lock:
            self._store.set_capacity(capacity)

    # -- the reader ------------------------------------------------------

    def wait(self, timeout: float) -> bool:
        """Block until something is pending or ``timeout`` passes; True if
        something is pending."""
        with self._arrived:
            self._arrived.wait_for(self._has_pending, timeout)
            return self._has_pending()

    def drain(self) -> IngestBatch:
        """Everything since the last drain (also releases tracebacks held
        longer than the reassembly hold while the stream is quiet)."""
        with self._lock:
            self._flush(self._monotonic())
            pending = self._pending
            self._pending = _Pending(self.settings.pending)
            health = tuple(self._health.take_changed())
        return IngestBatch(
            records=tuple(pending.records),
            groups=tuple(pending.groups.values()),
            new_groups=frozenset(pending.new_groups),
            let_go_groups=frozenset(pending.let_go),
            health=health,
            alerts=tuple(pending.alerts),
            events=tuple(pending.events),
            dropped=pending.dropped,
        )

    def finish(self) -> IngestBatch:
        """Release every held traceback, then drain (the stream ended)."""
        with self._lock:
            for record in self._reassembler.finish():
                self._complete(record)
        return self.drain()

    # -- snapshots for views that open late ---------------------------------

    def records(self) -> list[LogRecord]:
        with self._lock:
            return self._store.snapshot()

    def retained(self) -> int:
        with self._lock:
            return len(self._store)

    def groups(self) -> list[ErrorGroup]:
        with self._lock:
            return self._groups.ranked()

    def window(
        self,
        service: str,
        version: str,
        seconds: float,
        now: float | None = None,
        *,
        latency: bool = True,
    ) -> HealthSample:
        with self._lock:
            return self._health.window(
                service, version, seconds, now, latency=latency
            )

    def minutes(self, service: str, version: str) -> list[HealthSample]:
        with self._lock:
            return self._health.minutes(service, version)

    # -- inside the lock ---------------------------------------------------

    def _has_pending(self) -> bool:
        pending = self._pending
        return bool(
            pending.records or pending.events or pending.alerts or pending.dropped
            or pending.let_go
        )

    def _flush(self, now: float) -> None:
        for record in self._reassembler.flush(now):
            self._complete(record)

    def _complete(self, record: LogRecord) -> None:
        self._store.append(record)
        pending = self._pending
        if len(pending.records) == pending.records.maxlen:
            pending.dropped += 1
        pending.records.append(record)
        if record.timestamp is not None:
            self._rules.observe_time(record.timestamp)
        for traceback in record.tracebacks:
            group, is_new = self._groups.add(record, traceback)
            for key in self._groups.take_let_go():
                pending.groups.pop(key, None)
                pending.new_groups.discard(key)
                pending.let_go.add(key)
            pending.groups[group.fingerprint] = group
            if is_new:
                pending.new_groups.add(group.fingerprint)
            self._check_new_group(record, group)

    def _check_new_group(self, record: LogRecord, group: ErrorGroup) -> None:
        at = record.timestamp
        if at is None or not record.version:
            return
        window = self._health.window(
            record.service, record.version, self._rules.settings.window_seconds,
            self._health.watermark or at, latency=False,
        )
        alert = self._rules.check_new_group(
            record.service, record.version, group.fingerprint,
            group.latest.headline(), at, window,
        )
        if alert is not None:
            self._pending.alerts.append(alert)

    def _check_ratios(self) -> None:
        now = self._health.watermark
        if now is not None:
            self._pending.alerts.extend(self._rules.check_ratios(self._health, now))
