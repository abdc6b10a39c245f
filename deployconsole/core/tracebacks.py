"""Find and parse the Python tracebacks in a piece of log text.

Reads what CPython 2.7 and 3.6 to 3.13 print: frames with and without
source, caret and tilde marker lines, multi-line statements (3.13),
``[Previous line repeated N more times]``, SyntaxError location blocks,
"direct cause" and "during handling" chains (also when a log agent dropped
the blank lines around the sentence), exception groups with nesting and
"and N more exceptions", qualified and bare type names, notes and other
multi-line messages, Windows paths, ANSI colours, and tracebacks whose every
line carries the same log prefix.

A traceback cut short is marked incomplete; nothing is invented: a line cut
in the middle of a ``File`` entry is dropped, and a missing exception line
leaves the type and message None.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from deployconsole.core.traceback_model import (
    HEADER,
    ExceptionInfo,
    Traceback,
    make_exception,
    make_traceback,
)
from deployconsole.core.traceback_reader import (
    EXCEPTION_LINE,
    FRAME,
    RECORD_START,
    SENTENCE_RELATIONS,
    TOP_GROUP_HEADER,
    Reader,
)

# A text holds a traceback only if it has one of these (or a bare
# SyntaxError location block); everything else skips the regexes entirely.
_MARK_HEADER = "most recent call last)"
_MARK_SENTENCE = "above exception"
_MARK_FILE = 'File "'

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_DIGITS = re.compile(r"\d+")
_SYNTAX_TYPES = ("SyntaxError", "IndentationError", "TabError")

# Preamble modes: a log entry is one record, so everything before the
# traceback belongs to it; a plain log file holds many records, so only the
# record the traceback belongs to does.
PREAMBLE_ENTRY = "entry"
PREAMBLE_RECORD = "record"

STATE_NONE = "none"
STATE_OPEN = "open"
STATE_COMPLETE = "complete"

__all__ = [
    "PREAMBLE_ENTRY",
    "PREAMBLE_RECORD",
    "RECORD_START",
    "STATE_COMPLETE",
    "STATE_NONE",
    "STATE_OPEN",
    "TextTail",
    "might_contain_traceback",
    "parse_tracebacks",
    "text_tail",
]


def might_contain_traceback(text: str) -> bool:
    """Cheap check: False means the text surely holds no traceback."""
    return _MARK_HEADER in text or _MARK_SENTENCE in text or _MARK_FILE in text


def parse_tracebacks(
    text: str, *, cut: bool = False, preamble: str = PREAMBLE_ENTRY
) -> tuple[Traceback, ...]:
    """Every traceback in ``text``, in order.

    ``cut`` says the text was truncated at its end (an entry at the size
    limit): a traceback that runs to the end is then marked incomplete and
    its last message as truncated.
    """
    if _MARK_HEADER in text or _MARK_SENTENCE in text or _MARK_FILE in text:
        return _scan(text, cut, preamble)[0]
    return ()


@dataclass(frozen=True, slots=True)
class TextTail:
    """How a text ends, for joining a traceback split over several entries.

    ``state`` is ``"open"`` inside a traceback that needs more lines (a
    header, frames, or a chain sentence with nothing after it),
    ``"complete"`` after a whole traceback that runs to the last line (a
    chain may still follow), ``"none"`` otherwise. ``start_line`` is where
    that last traceback starts (-1 for "none").
    """

    state: str
    start_line: int = -1


def text_tail(text: str) -> TextTail:
    """How ``text`` ends (see :class:`TextTail`)."""
    if not might_contain_traceback(text):
        return TextTail(STATE_NONE)
    _found, state, tail_start = _scan(text, False, PREAMBLE_ENTRY)
    return TextTail(state, tail_start)


# What a scan found: the tracebacks, the state of the text's end and where
# the last traceback starts (see TextTail).
_ScanResult = tuple[tuple[Traceback, ...], str, int]
_NOTHING: _ScanResult = ((), STATE_NONE, -1)


@dataclass(slots=True)
class _Found:
    chain: list[ExceptionInfo]
    end: int
    dangling: bool
    first_header: int | None
    extra_preamble: str | None = None


def _scan(text: str, cut: bool, preamble_mode: str) -> _ScanResult:
    # One character is found with memchr, two are searched for slowly.
    if "\x1b" in text:
        text = _ANSI.sub("", text)
    candidates = _candidate_lines(text)
    if not candidates:
        return _NOTHING
    lines = text.split("\n")
    if "\r" in text:
        lines = [line[:-1] if line.endswith("\r") else line for line in lines]
    count = len(lines)
    while count and not lines[count - 1].strip():
        count -= 1

    found: list[Traceback] = []
    state = STATE_NONE
    tail_start = -1
    prev_end = 0
    for n in candidates:
        if n < prev_end or n >= count:
            continue
        start = _start_at(lines, n, count, prev_end)
        if start is None:
            continue
        begin, hit = start
        tb = _finish(hit, lines, begin, prev_end, preamble_mode)
        reached_end = hit.end >= count
        if tb is None:
            if reached_end:
                state, tail_start = STATE_OPEN, begin
            continue
        if reached_end and cut:
            tb = _mark_cut(tb)
        found.append(tb)
        if reached_end:
            state = STATE_OPEN if tb.incomplete else STATE_COMPLETE
            tail_start = begin
        else:
            state, tail_start = STATE_NONE, -1
        prev_end = max(hit.end, begin + 1)
    return tuple(found), state, tail_start


def _candidate_lines(text: str) -> list[int]:
    """The lines that may start a traceback (or end one: a chain sentence)."""
    markers = [m for m in (_MARK_HEADER, _MARK_SENTENCE) if m in text]
    if not markers:
        # Only a bare SyntaxError (no header) can be left.
        markers = ['  File "']
    positions = []
    for marker in markers:
        pos = text.find(marker)
        while pos >= 0:
            positions.append(pos)
            pos = text.find(marker, pos + len(marker))
    positions.sort()
    lines: list[int] = []
    line, last = 0, 0
    for pos in positions:
        line += text.count("\n", last, pos)
        last = pos
        if not lines or lines[-1] != line:
            lines.append(line)
    return lines


def _start_at(
    lines: list[str], i: int, count: int, prev_end: int
) -> tuple[int, _Found] | None:
    """The traceback that starts at (or, headerless, just before) line ``i``."""
    line = lines[i]
    if _MARK_HEADER in line:
        if line == HEADER or line == TOP_GROUP_HEADER:
            return i, _parse_at(lines, i, count)
        if line.endswith(HEADER):
            return i, _parse_prefixed(lines, i, count)
    elif _MARK_SENTENCE in line:
        if line.strip() in SENTENCE_RELATIONS:
            begin = _headerless_start(lines, i, prev_end)
            if begin is not None:
                return begin, _parse_at(lines, begin, count)
            # A chain sentence with nothing before it: what follows is still
            # a traceback, just without its first part.
            if i + 1 >= count:
                return i, _Found([], count, True, None)
    elif line.startswith('  File "') and _bare_syntax_error(lines, i, count):
        return i, _parse_at(lines, i, count)
    return None


def _headerless_start(lines: list[str], i: int, prev_end: int) -> int | None:
    # An exception that was never raised (``raise X from ValueError(...)``)
    # is printed without header or frames, straight before the sentence.
    j = i - 1
    while j >= prev_end and not lines[j].strip():
        j -= 1
    if j >= prev_end and _boxed(lines[j]):
        # An exception group that was never raised: a box without header.
        while j > prev_end and _boxed(lines[j - 1]):
            j -= 1
        head = lines[j]
        if head.startswith("  | ") and EXCEPTION_LINE.match(head[4:]):
            return j
        return None
    # The exception line is the first of its block: the lines after it may
    # be its message (which can look like anything, "customer_id" too).
    start = None
    lowest = max(prev_end, j - 30)
    while j >= lowest and lines[j].strip():
        line = lines[j]
        if EXCEPTION_LINE.match(line) and not RECORD_START.match(line):
            start = j
        j -= 1
    return start


def _boxed(line: str) -> bool:
    return line.startswith("  ") and line.lstrip()[:1] in ("|", "+")


def _bare_syntax_error(lines: list[str], i: int, count: int) -> bool:
    # ``python app.py`` with a syntax error in app.py prints the location
    # block and the exception line, no header and no frames.
    match = FRAME.match(lines[i])
    if match is None or match.group("func") is not None:
        return False
    for j in range(i + 1, min(i + 4, count)):
        head = EXCEPTION_LINE.match(lines[j])
        if head is not None:
            return head.group("type").endswith(_SYNTAX_TYPES)
    return False


def _parse_at(lines: list[str], i: int, count: int) -> _Found:
    reader = Reader(lines, i, count)
    chain, dangling = reader.chain(0)
    return _Found(chain, reader.i, dangling, reader.first_header)


def _parse_prefixed(lines: list[str], i: int, count: int) -> _Found:
    """A header with text before it on the same line.

    Either every line of the traceback carries the same log prefix (whose
    digits may change from line to line), or a log message ends in the
    header and the traceback follows on its own lines.
    """
    line = lines[i]
    group = line.endswith(TOP_GROUP_HEADER)
    header = TOP_GROUP_HEADER if group else HEADER
    prefix = line[: len(line) - len(header)]
    pattern = re.compile(
        "".join(
            r"\d+" if part.isdigit() else re.escape(part)
            for part in _split_digits(prefix)
        )
    )
    # The lines are the scan's own copy: strip the prefixes in place, so that
    # a long log of prefixed tracebacks costs no copying.
    j = i + 1
    while j < count:
        match = pattern.match(lines[j])
        if match is None:
            break
        lines[j] = lines[j][match.end() :]
        j += 1
    lines[i] = header
    if j == i + 1:
        found = _parse_at(lines, i, count)
        found.extra_preamble = prefix.strip() or None
    else:
        # The traceback ends where the prefix does.
        found = _parse_at(lines, i, j)
    return found


def _split_digits(text: str) -> list[str]:
    parts: list[str] = []
    last = 0
    for match in _DIGITS.finditer(text):
        if match.start() > last:
            parts.append(text[last : match.start()])
        parts.append(match.group())
        last = match.end()
    if last < len(text):
        parts.append(text[last:])
    return parts


def _finish(
    hit: _Found, lines: list[str], begin: int, prev_end: int, mode: str
) -> Traceback | None:
    chain = hit.chain
    if not chain or not _recognised(chain):
        return None
    incomplete = hit.dangling
    if not incomplete:
        for exc in chain:
            if exc.incomplete or (exc.sub_exceptions and _incomplete(exc)):
                incomplete = True
                break
    if mode == PREAMBLE_RECORD:
        preamble = _record_preamble(lines, begin, prev_end)
    else:
        upto = begin if hit.first_header is None else hit.first_header
        preamble = _join_trimmed(lines[prev_end:upto])
    if hit.extra_preamble:
        preamble = "\n".join(p for p in (preamble, hit.extra_preamble) if p)
    return make_traceback(tuple(chain), preamble, incomplete, begin)


def _recognised(chain: list[ExceptionInfo]) -> bool:
    for exc in chain:
        if exc.type is not None or exc.frames or exc.syntax_error is not None:
            return True
    return False


def _incomplete(exc: ExceptionInfo) -> bool:
    if exc.incomplete:
        return True
    for sub in exc.sub_exceptions or ():
        if any(_incomplete(inner) for inner in sub):
            return True
    return False


def _join_trimmed(lines: list[str]) -> str | None:
    start, end = 0, len(lines)
    while start < end and not lines[start].strip():
        start += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return "\n".join(lines[start:end]) if end > start else None


def _record_preamble(lines: list[str], begin: int, prev_end: int) -> str | None:
    # Walk back to the line that starts the log record; without one in
    # sight, only the line right before counts.
    picked: list[str] = []
    j = begin - 1
    while j >= max(prev_end, begin - 10):
        line = lines[j]
        if not line.strip():
            break
        picked.append(line)
        if RECORD_START.match(line):
            return "\n".join(reversed(picked))
        j -= 1
    return picked[0] if picked else None


def _mark_cut(tb: Traceback) -> Traceback:
    chain = _cut_chain(tb.exceptions)
    return make_traceback(chain, tb.preamble, True, tb.start_line)


def _cut_chain(chain: tuple[ExceptionInfo, ...]) -> tuple[ExceptionInfo, ...]:
    last = chain[-1]
    subs = last.sub_exceptions
    truncated = last.message_truncated
    if subs:
        subs = subs[:-1] + (_cut_chain(subs[-1]),)
    elif last.type is not None:
        truncated = True
    last = make_exception(
        last.type,
        last.message,
        last.frames,
        last.relation_to_next,
        subs,
        last.more_sub_exceptions,
        last.syntax_error,
        last.has_traceback_header,
        last.incomplete,
        truncated,
    )
    return chain[:-1] + (last,)
