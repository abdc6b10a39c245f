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
  The re-read skips what the first read had: the pages come in timestamp
  order, so whatever the service held when that read began was either read
  or is stamped at or after the last timestamp read (nothing, when the read
  reached the end). The re-read takes only entries received after that
  read began (on the service's clock, bounded from this machine's clock by
  the smallest delay seen between a receive time and its arrival here) or
  stamped at or after that timestamp. Late entries (a request log is
  stamped when the request began) therefore still count.
- A gap still unread when its stream is cut in turn keeps its own bound
  (that stream's first response) and is read on its own: merged into the
  next gap, it would make that read cover everything the cut stream
  delivered, page after page of duplicates at one quota read each.

Gaps overlap what the stream delivers on purpose; the session drops
duplicates by insert_id.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

from google.api_core import exceptions as api_exceptions

from deployconsole.core.ingest import STREAM_BACKFILLED
from deployconsole.gcp.tail_filter import backfill_filter, quote, rfc3339
from deployconsole.gcp.tail_support import Backoff, Stopped, TailSettings, describe

log = logging.getLogger("deployconsole.tail")


@dataclass(frozen=True)
class Resume:
    """What an earlier read of a gap left: entries received at or after
    ``received``, or stamped at or after ``stamped`` (None: no such bound)."""

    received: float
    stamped: float | None = None


@dataclass(frozen=True)
class Gap:
    """Entries received from ``since`` to ``until`` (None: the newest),
    limited to ``resume`` when an earlier read had the rest."""

    since: float
    until: float | None
    resume: Resume | None = None


class GapTracker:
    """Receive-time cursors of one session and the gaps they leave.

    Called by the stream thread (``stream_opened``, ``response``,
    ``suppressed``), the session's control methods (``scope_changed``) and
    the backfill thread (``wait``, ``retry``). Thread-safe.
    """

    def __init__(
        self, overlap: float, settle: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.overlap = overlap
        self.settle = settle
        self._clock = clock
        self._cond = threading.Condition()
        # The console starts "now" (see stream_opened): nothing before it
        # is owed to the user.
        self._safe = time.time() - overlap
        self._latest = self._safe
        self._guessed = True
        self._gap_since: float | None = None
        self._gap_resume: Resume | None = None
        self._rerun_since: float | None = None
        self._rerun_resume: Resume | None = None
        # The smallest (arrival here - receive time) seen: this machine's
        # clock less it is never ahead of the service's clock.
        self._delay: float | None = None
        self._open_gap = False
        self._scope_changed_at: float | None = None
        self._first: float | None = None
        self._settle_deadline = 0.0
        # Gaps whose end is known, due now, oldest first.
        self._bounded: list[Gap] = []
        # The quiet stream's gap being read, and the bounded re-read of it
        # queued meanwhile (its stream was cut), which read_ended limits.
        self._reading: Gap | None = None
        self._rerun_queued: Gap | None = None

    def __repr__(self) -> str:
        with self._cond:
            return (
                f"GapTracker(safe={self._safe!r}, latest={self._latest!r}, "
                f"gap_since={self._gap_since!r}, gap_resume={self._gap_resume!r}, "
                f"rerun_since={self._rerun_since!r}, "
                f"rerun_resume={self._rerun_resume!r}, delay={self._delay!r}, "
                f"open_gap={self._open_gap}, first={self._first!r}, "
                f"bounded={self._bounded!r}, "
                f"settles_in={self._settle_deadline - time.monotonic():.1f} s)"
            )

    def stream_opened(self, reconnect: bool) -> None:
        """A new stream was asked for; after a reconnect, a gap opens."""
        with self._cond:
            ended_first, self._first = self._first, None
            self._settle_deadline = time.monotonic() + self.settle
            if reconnect and ended_first is not None and not self._open_gap:
                # The stream that ended had proven live: what is still owed
                # from before it ends where it began.
                reading = self._reading
                rerun_only = (
                    reading is not None
                    and self._gap_since is None
                    and self._rerun_since == reading.since
                )
                owed = self._take_owed()
                if owed is not None:
                    since, resume = owed
                    rerun = Gap(since, ended_first + self.overlap, resume)
                    self._bounded.append(rerun)
                    if rerun_only:
                        self._rerun_queued = rerun
            if not reconnect:
                # FIXME(tail-clock): until the first response the cursor is a
                # guess from this machine's clock; with the service's clock
                # far behind it (an emulator on a ManualClock), a cut before
                # that response is not backfilled.
                self._safe = self._latest = self._clock() - self.overlap
                self._guessed = True
            else:
                since = self._safe - self.overlap
                if self._scope_changed_at is not None:
                    # The new scope starts now: only the restart's own gap.
                    since = max(since, self._scope_changed_at)
                    self._scope_changed_at = None
                owed = self._take_owed()
                if owed is not None:
                    self._owe(*owed)
                self._owe(since)
            self._cond.notify_all()

    def _owe(self, since: float, resume: Resume | None = None) -> None:
        """Add entries received from ``since`` to the gap owed; a merged
        gap is read whole."""
        if self._gap_since is None:
            self._gap_since, self._gap_resume = since, resume
        else:
            self._gap_since = min(self._gap_since, since)
            self._gap_resume = None

    def _take_owed(self) -> tuple[float, Resume | None] | None:
        """The gap and re-read still owed, as one, and forget them."""
        owed = [
            (since, resume)
            for since, resume in (
                (self._gap_since, self._gap_resume),
                (self._rerun_since, self._rerun_resume),
            )
            if since is not None
        ]
        self._gap_since = self._rerun_since = None
        self._gap_resume = self._rerun_resume = None
        if not owed:
            return None
        if len(owed) == 1:
            return owed[0]
        return min(since for since, _ in owed), None

    def scope_changed(self) -> None:
        with self._cond:
            self._scope_changed_at = self._latest

    def response(self, lowest: float | None, highest: float | None) -> None:
        """A response with entries received from ``lowest`` to ``highest``."""
        with self._cond:
            if highest is not None:
                delay = self._clock() - highest
                if self._delay is None or delay < self._delay:
                    self._delay = delay
            if self._guessed and lowest is not None and highest is not None:
                # The service's own times replace the guess.
                self._guessed = False
                self._safe = min(self._safe, lowest - self.overlap)
                self._latest = highest
            elif highest is not None:
                self._safe = max(self._safe, self._latest)
                self._latest = max(self._latest, highest)
            if self._first is None:
                self._first = lowest if lowest is not None else self._clock()
                self._cond.notify_all()

    def suppressed(self) -> None:
        """The service dropped entries: they arrived after the previous
        response was put together, and are in its storage."""
        with self._cond:
            self._owe(self._safe - self.overlap)
            self._open_gap = True
            self._cond.notify_all()

    def now(self) -> float:
        """This machine's time, for :meth:`read_ended`."""
        return self._clock()

    def read_ended(self, gap: Gap, began: float, stamped: float | None) -> None:
        """A read of ``gap`` that began at ``began`` (:meth:`now`) ended:
        at the newest entry (``stamped`` None) or, broken off, after the
        entries stamped up to ``stamped``. The re-read owed for a quiet
        stream's gap is limited to what that read cannot have had."""
        with self._cond:
            queued, self._rerun_queued = self._rerun_queued, None
            if gap is self._reading:
                self._reading = None
            if gap.until is not None or self._delay is None:
                return
            # FIXME(tail-clock): the overlap (1 s by default) is all the
            # margin there is: a step forward of this machine's clock since
            # the smallest delay was seen, or entries the service had
            # received but not yet made listable when the read began, longer
            # than that, would skip entries the stream did not send either.
            received = began - self._delay - self.overlap
            if stamped is not None:
                stamped -= self.overlap
            if received <= gap.since:
                return
            resume = Resume(received, stamped)
            if self._rerun_since == gap.since:
                self._rerun_resume = resume
            elif queued is not None and queued in self._bounded:
                self._bounded[self._bounded.index(queued)] = replace(
                    queued, resume=resume
                )

    def retry(self, gap: Gap) -> None:
        """Read ``gap`` again later (its read failed)."""
        with self._cond:
            if gap.until is not None:
                self._bounded.append(gap)
            else:
                self._owe(gap.since, gap.resume)

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
        if self._bounded:
            return self._bounded.pop(0)
        first = self._first
        if first is not None and self._rerun_since is not None:
            self._owe(self._rerun_since, self._rerun_resume)
            self._rerun_since = self._rerun_resume = None
        since, resume = self._gap_since, self._gap_resume
        if since is None:
            return None
        if self._open_gap:
            # Entries the live stream dropped: read up to the newest.
            self._open_gap = False
            self._gap_since = self._gap_resume = None
            return Gap(since, None, resume)
        if first is None:
            if time.monotonic() < self._settle_deadline:
                return None
            # A quiet new stream: read now, and again once it is proven live.
            self._gap_since = self._gap_resume = None
            self._rerun_since, self._rerun_resume = since, resume
            self._reading = Gap(since, None, resume)
            self._rerun_queued = None
            return self._reading
        self._gap_since = self._gap_resume = None
        return Gap(since, first + self.overlap, resume)


def gap_filter(base: str, gap: Gap, late_allowance: float) -> str:
    """``base`` limited to the entries of ``gap``."""
    text = backfill_filter(base, gap.since, late_allowance)
    if gap.until is not None:
        text += f" AND receiveTimestamp<={quote(rfc3339(gap.until))}"
    resume = gap.resume
    if resume is not None:
        fresh = f"receiveTimestamp>={quote(rfc3339(resume.received))}"
        if resume.stamped is None:
            text += f" AND {fresh}"
        else:
            unread = f"timestamp>={quote(rfc3339(resume.stamped))}"
            text += f" AND ({fresh} OR {unread})"
    return text


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
        text = gap_filter(text, gap, settings.late_allowance)
        token = ""
        found = pages = 0
        stamped: float | None = None
        began = self.tracker.now()
        while True:
            raw = reader.list_page(text, settings.backfill_page_size, token)
            pages += 1
            entries = raw.entries
            if entries:
                # Pages come in timestamp order: the last entry is the newest.
                stamp = entries[-1].timestamp
                stamped = stamp.seconds + stamp.nanos / 1e9
            got = reader.deliver(entries, sample, backfill=True)
            found += got
            log.debug(
                "Backfill page %d of %s: %d entries, %d new.",
                pages, gap, len(entries), got,
            )
            token = raw.next_page_token
            if not token:
                self.tracker.read_ended(gap, began, None)
                break
            if gap.until is None and self.tracker.proven_live():
                # The stream now carries what is new; the bounded re-read of
                # the gap follows, so this read need not chase new entries.
                self.tracker.read_ended(gap, began, stamped)
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
