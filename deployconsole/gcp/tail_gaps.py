"""Where the live tail's gaps are, for the backfill to read (ListLogEntries).

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

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from deployconsole.gcp.tail_filter import backfill_filter, quote, rfc3339


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
        # Owed, up to the newest: the gap to read, and the re-read of a
        # quiet stream's gap due once that stream is proven live.
        self._gap: Gap | None = None
        self._rerun: Gap | None = None
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
                f"gap={self._gap!r}, rerun={self._rerun!r}, delay={self._delay!r}, "
                f"open_gap={self._open_gap}, first={self._first!r}, "
                f"bounded={self._bounded!r}, reading={self._reading!r}, "
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
                # The re-read of a gap still being read is limited when
                # that read ends (read_ended).
                being_read = (
                    self._gap is None
                    and self._rerun is not None
                    and self._rerun is self._reading
                )
                owed = self._take_owed()
                if owed is not None:
                    rerun = replace(owed, until=ended_first + self.overlap)
                    self._bounded.append(rerun)
                    if being_read:
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
                self._gap = _merged(self._take_owed(), Gap(since, None))
            self._cond.notify_all()

    def _take_owed(self) -> Gap | None:
        """The gap and re-read still owed, as one, and forget them."""
        owed = _merged(self._gap, self._rerun)
        self._gap = self._rerun = None
        return owed

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
            self._gap = _merged(self._gap, Gap(self._safe - self.overlap, None))
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
            if gap is not self._reading:
                return  # only a quiet stream's gap is read again
            queued = self._rerun_queued
            self._reading = self._rerun_queued = None
            if self._delay is None:
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
            if self._rerun is gap:
                self._rerun = replace(gap, resume=resume)
            elif queued is not None and queued in self._bounded:
                self._bounded[self._bounded.index(queued)] = replace(
                    queued, resume=resume
                )

    def retry(self, gap: Gap) -> None:
        """Read ``gap`` again later (its read failed)."""
        with self._cond:
            if gap is self._reading:
                # Its re-read stays owed, whole: nothing was limited.
                self._reading = self._rerun_queued = None
            if gap.until is not None:
                self._bounded.append(gap)
            else:
                self._gap = _merged(self._gap, gap)

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
                if self._gap is not None and self._first is None:
                    timeout = max(0.0, self._settle_deadline - time.monotonic())
                self._cond.wait(timeout)
            return None

    def _next(self) -> Gap | None:
        if self._bounded:
            return self._bounded.pop(0)
        first = self._first
        if first is not None and self._rerun is not None:
            self._gap = _merged(self._gap, self._rerun)
            self._rerun = None
        owed = self._gap
        if owed is None:
            return None
        if self._open_gap:
            # Entries the live stream dropped: read up to the newest.
            self._open_gap = False
            self._gap = None
            return owed
        if first is None:
            if time.monotonic() < self._settle_deadline:
                return None
            # A quiet new stream: read now, and again once it is proven live.
            self._gap = None
            self._rerun = self._reading = owed
            self._rerun_queued = None
            return owed
        self._gap = None
        return replace(owed, until=first + self.overlap)


def _merged(owed: Gap | None, gap: Gap | None) -> Gap | None:
    """Open-ended gaps owed together: one from the earlier start, read
    whole (what limited either one no longer holds for both)."""
    if owed is None or gap is None:
        return owed or gap
    return Gap(min(owed.since, gap.since), None)


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
