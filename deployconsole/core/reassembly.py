"""Join tracebacks that arrived split over several log entries.

Python 3 runtimes write tracebacks to stderr, and the platform or a log
agent may turn them into one entry per line, or one per chain part; entries
of other instances arrive in between. :class:`Reassembler` keeps, per
instance (or trace, when an entry names no instance), the traceback being
joined, and hands out records as they complete:

- a record that cannot be part of a traceback passes straight through;
- one that starts a traceback is held, and the following entries of the
  same instance are added as long as the traceback reads on through them
  and they come close in time (``gap`` seconds apart at most);
- a traceback is released when an entry of its instance does not continue
  it, when ``flush(now)`` finds it untouched for ``hold`` seconds, or at
  ``finish()``. A whole traceback is held too, since a log agent may send
  the next part of its chain as the next entry.

Lines after the exception line (notes, a message of several lines) that
arrive as entries of their own are joined when they are stderr lines of
the same log written within ``message_gap`` seconds of the last part, and
the parser reads them as the message: not the start of another log record
or traceback. FIXME(reassembly): a note written later than that, or an
unrelated line written that soon that looks like no log record (see
FIXME(message-end)), is taken wrongly.

A released record is the first entry of the traceback with the joined text
(and the log lines just before it, its preamble) parsed afresh, and the
most severe severity of its parts. Entries joined into it are not released
on their own; entries used as its preamble were released already.

``now`` is any clock the caller likes (``time.monotonic()``); ``feed``
without one uses the entry's own timestamp.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Hashable

from deployconsole.core.logentry import (
    KIND_JSON,
    KIND_TEXT,
    SEVERITY_RANK,
    LogRecord,
    with_text,
)
from deployconsole.core.traceback_model import CAUSE_SENTENCE, CONTEXT_SENTENCE
from deployconsole.core.tracebacks import (
    RECORD_START,
    STATE_COMPLETE,
    STATE_NONE,
    text_tail,
)

log = logging.getLogger("deployconsole.reassembly")

_SENTENCES = (CAUSE_SENTENCE, CONTEXT_SENTENCE)
_PREAMBLE_ENTRIES = 5


class _Stream:
    """One instance's entries: recent plain lines and the traceback joined."""

    __slots__ = ("recent", "parts", "preamble", "text", "state", "start", "touched")

    def __init__(self) -> None:
        self.recent: deque[LogRecord] = deque(maxlen=_PREAMBLE_ENTRIES)
        self.parts: list[LogRecord] = []
        self.preamble: list[LogRecord] = []
        self.text = ""
        self.state = STATE_NONE
        self.start = -1
        self.touched = 0.0


class Reassembler:
    """Incremental joiner of split tracebacks; see the module docstring."""

    def __init__(
        self, *, gap: float = 2.0, hold: float = 2.0, message_gap: float = 0.1
    ) -> None:
        self.gap = gap
        self.hold = hold
        self.message_gap = message_gap
        self._streams: dict[Hashable, _Stream] = {}

    def feed(self, record: LogRecord, now: float | None = None) -> list[LogRecord]:
        """Take one record in arrival order; return those now complete."""
        if now is None:
            now = record.timestamp or 0.0
        if record.kind not in (KIND_TEXT, KIND_JSON) or not record.text:
            return [record]
        key = _stream_key(record)
        stream = self._streams.get(key)
        if stream is None:
            stream = self._streams[key] = _Stream()
        out: list[LogRecord] = []

        if stream.parts:
            last = stream.parts[-1]
            if self._close(last, record) and self._continue(stream, record):
                stream.touched = now
                return out
            out.append(self._release(stream))

        tail = text_tail(record.text)
        if tail.state == STATE_NONE:
            stream.recent.append(record)
            out.append(record)
            return out
        preamble = self._preamble(stream, record, tail.start_line)
        stream.parts = [record]
        stream.preamble = preamble
        stream.text = "\n".join([p.text for p in preamble] + [record.text])
        stream.start = tail.start_line + sum(p.text.count("\n") + 1 for p in preamble)
        stream.state = tail.state
        stream.touched = now
        stream.recent.clear()
        return out

    def flush(self, now: float) -> list[LogRecord]:
        """Release the tracebacks untouched for ``hold`` seconds."""
        out: list[LogRecord] = []
        stale: list[Hashable] = []
        for key, stream in self._streams.items():
            idle = now - stream.touched
            if stream.parts and idle >= self.hold:
                out.append(self._release(stream))
            elif not stream.parts and idle >= max(self.hold, self.gap) * 10:
                stale.append(key)
        for key in stale:
            del self._streams[key]
        return out

    def finish(self) -> list[LogRecord]:
        """Release everything held (the end of the input)."""
        out = [self._release(s) for s in self._streams.values() if s.parts]
        self._streams.clear()
        return out

    def pending(self) -> int:
        """How many tracebacks are being held."""
        return sum(1 for stream in self._streams.values() if stream.parts)

    def _close(self, earlier: LogRecord, later: LogRecord) -> bool:
        if earlier.timestamp is None or later.timestamp is None:
            return True
        return abs(later.timestamp - earlier.timestamp) <= self.gap

    def _continue(self, stream: _Stream, record: LogRecord) -> bool:
        """Add ``record`` to the stream's traceback if it reads on through it."""
        new = record.text
        # An agent may cut a chain before its separator sentence; the next
        # entry then starts with the sentence, alone or with the next part.
        first_line = new.lstrip("\n").split("\n", 1)[0].strip()
        starts_chain = first_line in _SENTENCES
        if (
            stream.state == STATE_COMPLETE
            and not starts_chain
            and not self._message_goes_on(stream.parts[-1], record)
        ):
            return False
        if starts_chain:
            rest = new.strip("\n")
            joined = stream.text.rstrip("\n") + "\n\n" + rest
            if rest == first_line:
                joined += "\n"
        else:
            joined = stream.text + "\n" + new
        tail = text_tail(joined)
        if tail.state == STATE_NONE or tail.start_line != stream.start:
            return False
        stream.parts.append(record)
        stream.text = joined
        stream.state = tail.state
        return True

    def _message_goes_on(self, last: LogRecord, record: LogRecord) -> bool:
        """Whether ``record`` may hold more lines of the message a whole
        traceback ends with: a stderr line of the same log written right
        after its last part (the parse of the joined text decides)."""
        if KIND_TEXT != last.kind or KIND_TEXT != record.kind:
            return False
        if record.log_name != last.log_name:
            return False
        if last.timestamp is None or record.timestamp is None:
            return False
        return 0.0 <= record.timestamp - last.timestamp <= self.message_gap

    def _preamble(
        self, stream: _Stream, record: LogRecord, start_line: int
    ) -> list[LogRecord]:
        # The log line(s) just before a traceback that starts its entry are
        # its preamble ("ERROR in app: Exception on /x [GET]"): back to the
        # line that starts a log record, else only the nearest line.
        if start_line != 0 or not stream.recent:
            return []
        picked: list[LogRecord] = []
        later = record
        for earlier in reversed(stream.recent):
            if not self._close(earlier, later) or "\n" in earlier.text.strip():
                break
            picked.append(earlier)
            if RECORD_START.match(earlier.text):
                return picked[::-1]
            later = earlier
        return picked[:1]

    def _release(self, stream: _Stream) -> LogRecord:
        parts, preamble = stream.parts, stream.preamble
        first = parts[0]
        if len(parts) == 1 and not preamble:
            record = first
        else:
            severity = max(
                (p.severity for p in parts), key=lambda s: SEVERITY_RANK.get(s, 0)
            )
            record = with_text(first, stream.text, severity)
            log.debug(
                "Joined a traceback from %d entries of instance %s, first %s.",
                len(parts),
                first.instance or first.trace or "(none)",
                first.insert_id,
            )
        stream.parts = []
        stream.preamble = []
        stream.text = ""
        stream.state = STATE_NONE
        stream.start = -1
        return record


def _stream_key(record: LogRecord) -> Hashable:
    if record.instance:
        return ("instance", record.instance)
    if record.trace:
        return ("trace", record.trace)
    return ("log", record.service, record.version, record.log_name)
