"""Closing the gaps of the live tail with ListLogEntries.

The service streams only entries it receives after a stream started, so
every reconnect leaves a gap, and so does every batch of entries the
service dropped (suppression). Gaps are tracked in receive time:

- The service sends a response's entries sorted by timestamp, so when a
  stream is cut in the middle of a response the unsent entries may have
  been received before the last one sent, but not before the end of the
  previous response. The "safe" cursor is therefore the latest receive
  time of the responses before the last one.
- A gap is read once the new stream has proven live (its first response):
  until then entries may still fall between the streams. The read stops at
  the first response's receive time, after which the stream has them. A
  quiet stream proves nothing, so after ``settle`` seconds the gap is read
  anyway, up to the newest entry, and read again once the stream is live.

Gaps overlap what the stream delivers on purpose; the session drops
duplicates by insert_id.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol

from google.api_core import exceptions as api_exceptions

from deployconsole.core.ingest import STREAM_BACKFILLED
from deployconsole.gcp.tail_filter import backfill_filter, quote, rfc3339
from deployconsole.gcp.tail_support import Backoff, Stopped, TailSettings, describe

log = logging.getLogger("deployconsole.tail")


@dataclass(frozen=True)
class Gap:
    """Entries received from ``since`` to ``until`` (None: the newest)."""

    since: float
    until: float | None


def _earliest(*times: float | None) -> float | None:
    known = [t for t in times if t is not None]
    return min(known) if known else None


class GapTracker:
    """Receive-time cursors of one session and the gaps they leave.

    Called by the stream thread (``stream_opened``, ``response``,
    ``suppressed``), the session's control methods (``scope_changed``) and
    the backfill thread (``wait``, ``retry``). Thread-safe.
    """

    def __init__(self, overlap: float, settle: float) -> None:
        self.overlap = overlap
        self.settle = settle
        self._cond = threading.Condition()
        # The console starts "now" (see stream_opened): nothing before it
        # is owed to the user.
        self._safe = time.time() - overlap
        self._latest = self._safe
        self._guessed = True
        self._gap_since: float | None = None
        self._rerun_since: float | None = None
        self._open_gap = False
        self._scope_changed_at: float | None = None
        self._first: float | None = None
        self._settle_deadline = 0.0

    def __repr__(self) -> str:
        with self._cond:
            return (
                f"GapTracker(safe={self._safe!r}, latest={self._latest!r}, "
                f"gap_since={self._gap_since!r}, rerun_since={self._rerun_since!r}, "
                f"open_gap={self._open_gap}, first={self._first!r}, "
                f"settles_in={self._settle_deadline - time.monotonic():.1f} s)"
            )

    def stream_opened(self, reconnect: bool) -> None:
        """A new stream was asked for; after a reconnect, a gap opens."""
        with self._cond:
            self._first = None
            self._settle_deadline = time.monotonic() + self.settle
            if not reconnect:
                # FIXME(tail-clock): until the first response the cursor is a
                # guess from this machine's clock; with the service's clock
                # far behind it (an emulator on a ManualClock), a cut before
                # that response is not backfilled.
                self._safe = self._latest = time.time() - self.overlap
                self._guessed = True
            else:
                since = self._safe - self.overlap
                if self._scope_changed_at is not None:
                    # The new scope starts now: only the restart's own gap.
                    since = max(since, self._scope_changed_at)
                    self._scope_changed_at = None
                self._gap_since = _earliest(self._gap_since, self._rerun_since, since)
                self._rerun_since = None
            self._cond.notify_all()

    def scope_changed(self) -> None:
        with self._cond:
            self._scope_changed_at = self._latest

    def response(self, lowest: float | None, highest: float | None) -> None:
        """A response with entries received from ``lowest`` to ``highest``."""
        with self._cond:
            if self._guessed and lowest is not None and highest is not None:
                # The service's own times replace the guess.
                self._guessed = False
                self._safe = min(self._safe, lowest - self.overlap)
                self._latest = highest
            elif highest is not None:
                self._safe = max(self._safe, self._latest)
                self._latest = max(self._latest, highest)
            if self._first is None:
                self._first = lowest if lowest is not None else time.time()
                self._cond.notify_all()

    def suppressed(self) -> None:
        """The service dropped entries: they arrived after the previous
        response was put together, and are in its storage."""
        with self._cond:
            since = self._safe - self.overlap
            self._gap_since = _earliest(self._gap_since, since)
            self._open_gap = True
            self._cond.notify_all()

    def retry(self, gap: Gap) -> None:
        """Read ``gap`` again later (its read failed)."""
        with self._cond:
            self._gap_since = _earliest(self._gap_since, gap.since)

    def proven_live(self) -> bool:
        with self._cond:
            return self._first is not None

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def poll(self) -> Gap | None:
        """The gap due now, or None; does not wait."""
        with self._cond:
            return self._next()

    def wait(self, stop: threading.Event) -> Gap | None:
        """The next gap to read, once it is due; None once ``stop`` is set."""
        with self._cond:
            while not stop.is_set():
                gap = self._next()
                if gap is not None:
                    return gap
                timeout = None
                if self._gap_since is not None and self._first is None:
                    timeout = max(0.0, self._settle_deadline - time.monotonic())
                self._cond.wait(timeout)
            return None

    def _next(self) -> Gap | None:
        first = self._first
        if first is not None and self._rerun_since is not None:
            self._gap_since = _earliest(self._gap_since, self._rerun_since)
            self._rerun_since = None
        since = self._gap_since
        if since is None:
            return None
        if self._open_gap:
            # Entries the live stream dropped: read up to the newest.
            self._open_gap = False
            self._gap_since = None
            return Gap(since, None)
        if first is None:
            if time.monotonic() < self._settle_deadline:
                return None
            # A quiet new stream: read now, and again once it is proven live.
            self._gap_since = None
            self._rerun_since = since
            return Gap(since, None)
        self._gap_since = None
        return Gap(since, first + self.overlap)


class GapReader(Protocol):
    """What the backfill needs from its session."""

    @property
    def project(self) -> str: ...

    def current_filter(self) -> tuple[str, float]:
        """The stream's filter and request-log sample as they are now."""
        ...

    def list_page(self, text: str, page_size: int, page_token: str = "") -> Any:
        """One ListLogEntries page (raw); raises Stopped on stop."""
        ...

    def deliver(self, entries: Any, sample: float, backfill: bool = False) -> int:
        ...

    def emit(self, kind: str, message: str, **details: Any) -> None: ...


class Backfill:
    """Reads the gaps a :class:`GapTracker` reports; run() on a thread."""

    def __init__(
        self,
        tracker: GapTracker,
        reader: GapReader,
        settings: TailSettings,
        stop: threading.Event,
    ) -> None:
        self.tracker = tracker
        self.reader = reader
        self.settings = settings
        self.stop = stop
        self._backoff = Backoff(settings.backoff_initial, settings.backoff_max)

    def run(self) -> None:
        while True:
            gap = self.tracker.wait(self.stop)
            if gap is None:
                return
            text, sample = self.reader.current_filter()
            try:
                self._read(gap, text, sample)
                self._backoff.reset()
            except Stopped:
                return
            except api_exceptions.GoogleAPICallError as exc:
                log.warning(
                    "Backfill of project %s failed (%s); it is tried again.",
                    self.reader.project, describe(exc),
                )
                self.tracker.retry(gap)
                if self.stop.wait(self._backoff.next_delay()):
                    return
            except Exception:
                if self.stop.is_set():
                    return  # stopping closes the channel under a read
                log.exception("Backfill of project %s failed.", self.reader.project)

    def _read(self, gap: Gap, text: str, sample: float) -> None:
        settings, reader = self.settings, self.reader
        text = backfill_filter(text, gap.since, settings.late_allowance)
        if gap.until is not None:
            text += f" AND receiveTimestamp<={quote(rfc3339(gap.until))}"
        token = ""
        found = pages = 0
        while True:
            raw = reader.list_page(text, settings.backfill_page_size, token)
            pages += 1
            found += reader.deliver(raw.entries, sample, backfill=True)
            token = raw.next_page_token
            if not token:
                break
            if gap.until is None and self.tracker.proven_live():
                # The stream now carries what is new; the bounded re-read of
                # the gap follows, so this read need not chase new entries.
                break
            if pages >= settings.backfill_max_pages:
                reader.emit(
                    STREAM_BACKFILLED,
                    f"Backfill of project {reader.project} stopped after {pages} "
                    f"pages; entries received after {rfc3339(gap.since)} may be "
                    "missing.",
                    count=found,
                )
                return
        log.info(
            "Backfilled %d entries of project %s received since %s (%d reads).",
            found, reader.project, rfc3339(gap.since), pages,
        )
        if found:
            reader.emit(
                STREAM_BACKFILLED,
                f"{found} entries missed while reconnecting were read back.",
                count=found,
            )
