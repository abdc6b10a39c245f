"""Handing tail entries to the sink: dedupe, normalise, report.

Both the stream and the backfill deliver here, under one lock, so an entry
the two both read reaches the sink once. An entry that cannot be read is
still handed over, with a note in place of its payload, and the user is
told.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace
from typing import Any

from deployconsole.core.ingest import STREAM_UNREADABLE, StreamEvent, TailSink
from deployconsole.core.logentry import LogRecord
from deployconsole.core.turns import ForegroundTurns, NoTurns
from deployconsole.gcp.entries import record_from_pb
from deployconsole.gcp.tail_support import InsertIdWindow

log = logging.getLogger("deployconsole.tail")

# Entries converted and handed over between two looks at the GUI's turn:
# about 2 ms of work, the longest the GUI thread waits once it took a turn.
CHUNK = 64


class Delivery:
    """Delivers one project's entries and events to a :class:`TailSink`."""

    def __init__(
        self,
        project: str,
        sink: TailSink,
        dedupe_capacity: int,
        turns: ForegroundTurns | None = None,
    ) -> None:
        self.project = project
        self._sink = sink
        self._turns = turns or NoTurns()
        self._seen = InsertIdWindow(dedupe_capacity)
        self._lock = threading.Lock()
        self._delivered = self._duplicates = self._backfilled = 0

    def counts(self) -> tuple[int, int, int]:
        """(delivered, duplicates dropped, delivered by backfill)."""
        with self._lock:
            return self._delivered, self._duplicates, self._backfilled

    def deliver(self, entries: Any, sample: float, backfill: bool = False) -> int:
        """Hand the raw entries not seen before to the sink; how many.

        They go in chunks, in order, letting the GUI thread have its turn
        (see :mod:`deployconsole.core.turns`) between two chunks.
        """
        with self._lock:
            seen = self._seen
            fresh = [e for e in entries if not e.insert_id or seen.add(e.insert_id)]
            self._duplicates += len(entries) - len(fresh)
            delivered = 0
            for first in range(0, len(fresh), CHUNK):
                self._turns.wait()
                records = self._records(fresh[first : first + CHUNK])
                if records:
                    self._sink.add_records(records, sample)
                delivered += len(records)
            self._delivered += delivered
            if backfill:
                self._backfilled += delivered
            return delivered

    def _records(self, entries: list[Any]) -> list[LogRecord]:
        records = []
        for entry in entries:
            try:
                records.append(record_from_pb(entry))
            except Exception as exc:
                fallback = self._unreadable(entry, exc)
                if fallback is not None:
                    records.append(fallback)
        return records

    def emit(self, kind: str, message: str, **details: Any) -> None:
        event = StreamEvent(kind, self.project, message, time.time())
        if details:
            event = replace(event, **details)
        self._sink.add_event(event)

    def _unreadable(self, entry: Any, error: Exception) -> LogRecord | None:
        log.warning(
            "Entry %s of project %s could not be read: %s",
            entry.insert_id,
            self.project,
            error,
        )
        log.debug("Reading entry %s failed.", entry.insert_id, exc_info=True)
        self.emit(
            STREAM_UNREADABLE,
            f"Entry {entry.insert_id} could not be read: {error}",
            count=1,
            reason=type(error).__name__,
        )
        return unreadable_record(entry, error)


def unreadable_record(entry: Any, error: Exception) -> LogRecord | None:
    """The entry with its unreadable payload replaced by a note, so that it
    is still listed (with its time, service, version, severity, status)."""
    stripped = type(entry)()
    stripped.CopyFrom(entry)
    payload = entry.WhichOneof("payload") or "payload"
    stripped.text_payload = f"[the {payload} could not be read: {error}]"
    try:
        return record_from_pb(stripped)
    except Exception:
        log.exception("Entry %s could not be read at all.", entry.insert_id)
        return None
