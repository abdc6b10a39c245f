"""Reading the live tail's gaps back with ListLogEntries, within the read
quota; where the gaps are is :mod:`deployconsole.gcp.tail_gaps`."""

from __future__ import annotations

import logging
import threading
from typing import Any, Protocol

from google.api_core import exceptions as api_exceptions

from deployconsole.core.ingest import STREAM_BACKFILLED
from deployconsole.gcp.tail_filter import rfc3339
from deployconsole.gcp.tail_gaps import Gap, GapTracker, gap_filter
from deployconsole.gcp.tail_support import Backoff, Stopped, TailSettings, describe

log = logging.getLogger("deployconsole.tail")


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
