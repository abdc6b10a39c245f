"""Read one traceback (a chain, with its exception groups) from text lines.

This is the line-level half of the parser; :mod:`deployconsole.core.
tracebacks` finds where tracebacks start and calls it. Depth 0 (no group
box) is the common case and is read with fewer checks; frame blocks are
cached, because the same frames come back with every occurrence of an error
and building them is most of the work.
"""

from __future__ import annotations

import re
from dataclasses import replace

from deployconsole.core.traceback_model import (
    CAUSE,
    CAUSE_SENTENCE,
    CONTEXT,
    CONTEXT_SENTENCE,
    GROUP_HEADER,
    HEADER,
    ExceptionInfo,
    Frame,
    SyntaxErrorLocation,
    make_exception,
    make_frame,
)

TOP_GROUP_HEADER = "  + " + GROUP_HEADER
SENTENCE_RELATIONS = {CAUSE_SENTENCE: CAUSE, CONTEXT_SENTENCE: CONTEXT}

FRAME = re.compile(
    r'  File "(?P<file>.*)", line (?P<line>-?\d+|None)(?:, in (?P<func>.*))?$'
)
EXCEPTION_LINE = re.compile(
    r"(?P<type>(?:<unknown>\.)?[^\W\d]\w*(?:\.(?:[^\W\d]\w*|<locals>))*)"
    r"(?:: (?P<message>.*)|:)?$"
)
_REPEATED = re.compile(r"  \[Previous line repeated (\d+) more times?\]\s*$")
# Exception-group box rules: "+-+---- 1 ----", "  +---- 2 ----", "+-----".
RULE = re.compile(r"( *)(\+-\+|\+)-{3,}(?: (\d+|\.\.\.) -{3,})?\s*$")
_MORE = re.compile(r"and (\d+) more exceptions?$")
# The first line of another log record: an exception message ends there.
RECORD_START = re.compile(
    r"\[?\d{4}-\d\d-\d\d[ T]\d\d:\d\d"
    r"|(?:DEBUG|INFO|NOTICE|WARNING|WARN|ERROR|CRITICAL|FATAL)(?::|\s+-\s)"
    r"|\[(?:DEBUG|INFO|NOTICE|WARNING|WARN|ERROR|CRITICAL|FATAL)\]"
    r"|[IWEF]\d{4} \d\d:\d\d:\d\d"
    r"|[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d "
)

_CACHE_LIMIT = 20_000
_frame_cache: dict[str, Frame] = {}
# Indented lines after a header -> (frames, SyntaxError location, lines used).
_region_cache: dict[str, tuple[tuple[Frame, ...], SyntaxErrorLocation | None, int]] = {}


def is_caret_line(content: str) -> bool:
    """A line of ``^`` and ``~`` position markers (3.11+, SyntaxError)."""
    return not content.strip(" ^~\t") and ("^" in content or "~" in content)


def _cached_frame(block: str, line: str, source: list[str]) -> Frame | None:
    frame = _frame_cache.get(block)
    if frame is not None:
        return frame
    match = FRAME.match(line)
    if match is None or match.group("func") is None:
        return None
    number = match.group("line")
    frame = make_frame(
        match.group("file"),
        None if number == "None" else int(number),
        match.group("func"),
        "\n".join(source) if source else None,
        0,
    )
    if len(_frame_cache) >= _CACHE_LIMIT:
        _frame_cache.clear()
    _frame_cache[block] = frame
    return frame


class Reader:
    """Reads one traceback from ``lines[start:count]``.

    ``depth`` is the exception-group nesting: lines at depth d > 0 carry a
    ``"  " * d + "| "`` margin that is stripped before they are read.
    ``i`` ends on the first line after the traceback; ``first_header`` is the
    first ``Traceback`` header line seen.
    """

    def __init__(self, lines: list[str], start: int, count: int) -> None:
        self.lines = lines
        self.count = count
        self.i = start
        self.first_header: int | None = None

    def at(self, i: int, depth: int) -> str | None:
        """Line ``i`` without its margin, or None if not at ``depth``."""
        if i >= self.count:
            return None
        line = self.lines[i]
        if not depth:
            return line
        indent = 2 * depth
        if len(line) <= indent or line[indent] not in "|+":
            return None
        if line[:indent].strip() or RULE.match(line):
            return None
        rest = line[indent + 1 :]
        return rest[1:] if rest.startswith(" ") else rest

    def chain(self, depth: int) -> tuple[list[ExceptionInfo], bool]:
        """Exceptions joined by chain sentences; True if one dangles."""
        chain: list[ExceptionInfo] = []
        while True:
            parts = self.exception(depth)
            if parts is None:
                return chain, bool(chain)
            relation = None if parts[8] else self.sentence(depth)
            parts[3] = relation
            chain.append(make_exception(*parts, False))
            if relation is None:
                return chain, False

    def sentence(self, depth: int) -> str | None:
        if not depth:
            lines, count, j = self.lines, self.count, self.i
            while j < count and not lines[j].strip():
                j += 1
            if j >= count or lines[j].strip() not in SENTENCE_RELATIONS:
                return None
        j = self.i
        while self.at(j, depth) == "":
            j += 1
        relation = SENTENCE_RELATIONS.get((self.at(j, depth) or "").strip())
        if relation is None:
            return None
        j += 1
        while self.at(j, depth) == "":
            j += 1
        self.i = j
        return relation

    def exception(self, depth: int) -> list[object] | None:
        """The fields of the next exception, in ExceptionInfo order."""
        content = self.at(self.i, depth)
        if content is None:
            return None
        if depth == 0 and content.startswith("  "):
            boxed = self.at(self.i, 1)
            if boxed is not None:
                return self.exception(1) if self._group_start(boxed) else None

        header = content == HEADER or content == GROUP_HEADER
        group = content == GROUP_HEADER
        if header:
            if self.first_header is None:
                self.first_header = self.i
            self.i += 1
        if depth:
            frames, location = self.boxed_frames(depth)
        else:
            frames, location = self.frames()

        head = self.at(self.i, depth)
        match = EXCEPTION_LINE.match(head) if head is not None else None
        if match is None:
            if not header and not frames and location is None:
                return None
            return [None, None, tuple(frames), None, None, 0, location, header, True]
        self.i += 1
        message = self.message(match.group("message") or "", depth)
        subs = None
        more = 0
        if group or self._rule_column(self.i) == 2 * (depth + 1):
            subs, more = self.sub_exceptions(depth)
        return [
            match.group("type"),
            message,
            tuple(frames),
            None,
            subs,
            more,
            location,
            header,
            False,
        ]

    def _group_start(self, boxed: str) -> bool:
        if boxed == GROUP_HEADER:
            return True
        if EXCEPTION_LINE.match(boxed) is None:
            return False
        # A group that was never raised: no header, its rules follow.
        j = self.i + 1
        while self.at(j, 1) is not None:
            j += 1
        return self._rule_column(j) == 4

    def frames(self) -> tuple[list[Frame], SyntaxErrorLocation | None]:
        """Frames at depth 0, where lines need no unboxing.

        The whole run of indented lines is looked up first: an error that
        comes back prints the very same frames.
        """
        lines, count, start = self.lines, self.count, self.i
        end = start
        while end < count and lines[end].startswith("  "):
            end += 1
        if end == start:
            return [], None
        region = "\n".join(lines[start:end])
        cached = _region_cache.get(region)
        if cached is not None:
            self.i = start + cached[2]
            return list(cached[0]), cached[1]
        frames, location = self._read_frames()
        if len(_region_cache) >= _CACHE_LIMIT:
            _region_cache.clear()
        _region_cache[region] = (tuple(frames), location, self.i - start)
        return frames, location

    def _read_frames(self) -> tuple[list[Frame], SyntaxErrorLocation | None]:
        lines, count = self.lines, self.count
        frames: list[Frame] = []
        i = self.i
        while i < count:
            line = lines[i]
            if line.startswith('  File "'):
                j = i + 1
                while j < count and lines[j].startswith("    "):
                    j += 1
                source = [
                    c[4:].rstrip() for c in lines[i + 1 : j] if not is_caret_line(c)
                ]
                frame = _cached_frame("\n".join(lines[i:j]), line, source)
                if frame is None:
                    match = FRAME.match(line)
                    if match is None:
                        break
                    self.i = i + 1
                    location = self.location(match, 0)
                    return frames, location
                frames.append(frame)
                i = j
            elif line.startswith("  [Previous line repeated ") and frames:
                repeat = _REPEATED.match(line)
                if repeat is None:
                    break
                last = frames[-1]
                frames[-1] = make_frame(
                    last.file, last.line, last.function, last.source, int(repeat[1])
                )
                i += 1
            else:
                break
        self.i = i
        return frames, None

    def boxed_frames(
        self, depth: int
    ) -> tuple[list[Frame], SyntaxErrorLocation | None]:
        frames: list[Frame] = []
        while True:
            content = self.at(self.i, depth)
            if content is None:
                return frames, None
            if content.startswith('  File "'):
                match = FRAME.match(content)
                if match is None:
                    return frames, None
                self.i += 1
                if match.group("func") is None:
                    return frames, self.location(match, depth)
                source: list[str] = []
                while True:
                    more = self.at(self.i, depth)
                    if more is None or not more.startswith("    "):
                        break
                    self.i += 1
                    if not is_caret_line(more):
                        source.append(more[4:].rstrip())
                number = match.group("line")
                frames.append(
                    make_frame(
                        match.group("file"),
                        None if number == "None" else int(number),
                        match.group("func"),
                        "\n".join(source) if source else None,
                        0,
                    )
                )
                continue
            repeat = _REPEATED.match(content)
            if repeat is None or not frames:
                return frames, None
            last = frames[-1]
            frames[-1] = make_frame(
                last.file, last.line, last.function, last.source, int(repeat[1])
            )
            self.i += 1

    def location(self, match: re.Match[str], depth: int) -> SyntaxErrorLocation:
        """The ``File "x", line N`` block under a SyntaxError, after its line."""
        number = match.group("line")
        source = caret = None
        content = self.at(self.i, depth)
        if content is not None and content.startswith("    "):
            if not is_caret_line(content):
                source = content.strip()
                self.i += 1
                content = self.at(self.i, depth)
            if content is not None and is_caret_line(content):
                caret = content.strip()
                self.i += 1
        line = None if number == "None" else int(number)
        return SyntaxErrorLocation(match.group("file"), line, source, caret)

    def message(self, first: str, depth: int) -> str:
        # FIXME(message-end): a plain line right after a traceback that does
        # not look like the start of a log record ("[2025-...", "ERROR:x:")
        # is read as part of the message; CPython's output cannot tell.
        lines = [first]
        while True:
            content = self.at(self.i, depth)
            if content is None:
                break
            if not content.strip():
                j = self.i + 1
                while (self.at(j, depth) or "x").strip() == "":
                    j += 1
                after = self.at(j, depth)
                if after is None or self._ends_message(after, depth):
                    break
                lines.extend([""] * (j - self.i))
                self.i = j
                continue
            if self._ends_message(content, depth):
                if len(lines) > 1 and content.endswith(HEADER):
                    # CPython never prints a header right under a message;
                    # the line before it is the next traceback's preamble
                    # ("Exception in thread t2:").
                    lines.pop()
                    self.i -= 1
                break
            lines.append(content)
            self.i += 1
        return "\n".join(lines) if len(lines) > 1 else first

    def _ends_message(self, content: str, depth: int) -> bool:
        if content.strip() in SENTENCE_RELATIONS:
            return True
        if content.endswith(HEADER) or content == GROUP_HEADER:
            return True
        if depth == 0:
            return (
                content == TOP_GROUP_HEADER or RECORD_START.match(content) is not None
            )
        return False

    def _rule(self, i: int) -> tuple[str, int, str | None] | None:
        """A box rule at line ``i``: (kind, column of its last '+', title)."""
        if i >= self.count:
            return None
        line = self.lines[i]
        if "+-" not in line:
            return None
        match = RULE.match(line)
        if match is None:
            return None
        indent, corner, title = match.group(1), match.group(2), match.group(3)
        column = len(indent) + (2 if corner == "+-+" else 0)
        return ("separator" if title else "close"), column, title

    def _rule_column(self, i: int) -> int:
        rule = self._rule(i)
        return -1 if rule is None else rule[1]

    def sub_exceptions(
        self, depth: int
    ) -> tuple[tuple[tuple[ExceptionInfo, ...], ...], int]:
        chains: list[tuple[ExceptionInfo, ...]] = []
        more = 0
        inner = depth + 1
        while True:
            rule = self._rule(self.i)
            if rule is None or rule[1] != 2 * inner:
                break
            self.i += 1
            if rule[0] == "close":
                break
            # FIXME(groups): "... (max_group_depth is N)", printed for groups
            # nested deeper than CPython shows, is not read.
            if rule[2] == "...":
                counted = _MORE.match((self.at(self.i, inner) or "").strip())
                if counted is not None:
                    more = int(counted.group(1))
                    self.i += 1
                continue
            chain, dangling = self.chain(inner)
            if dangling and chain:
                chain[-1] = replace(chain[-1], incomplete=True)
            if chain:
                chains.append(tuple(chain))
        return tuple(chains), more
