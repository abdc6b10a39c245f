"""Read one traceback (a chain, with its exception groups) from text lines.

This is the line-level half of the parser; :mod:`deployconsole.core.
tracebacks` finds where tracebacks start and calls it. Depth 0 (no group
box) is the common case and is read with fewer checks. Frames are read (and
cached) by :mod:`deployconsole.core.traceback_frames`.
"""

from __future__ import annotations

import re
from dataclasses import replace

from deployconsole.core.traceback_frames import FRAME, RULE, LineReader
from deployconsole.core.traceback_model import (
    CAUSE,
    CAUSE_SENTENCE,
    CONTEXT,
    CONTEXT_SENTENCE,
    GROUP_HEADER,
    HEADER,
    ExceptionInfo,
    make_exception,
)

__all__ = [
    "EXCEPTION_LINE",
    "FRAME",
    "RECORD_START",
    "RULE",
    "SENTENCE_RELATIONS",
    "TOP_GROUP_HEADER",
    "Reader",
]

TOP_GROUP_HEADER = "  + " + GROUP_HEADER
SENTENCE_RELATIONS = {CAUSE_SENTENCE: CAUSE, CONTEXT_SENTENCE: CONTEXT}

EXCEPTION_LINE = re.compile(
    r"(?P<type>(?:<unknown>\.)?[^\W\d]\w*(?:\.(?:[^\W\d]\w*|<locals>))*)"
    r"(?:: (?P<message>.*)|:)?$"
)
_MORE = re.compile(r"and (\d+) more exceptions?$")
_DEPTH_LIMIT = re.compile(r"\.\.\. \(max_group_depth is \d+\)$")
# The first line of another log record: an exception message ends there.
RECORD_START = re.compile(
    r"\[?\d{4}-\d\d-\d\d[ T]\d\d:\d\d"
    r"|(?:DEBUG|INFO|NOTICE|WARNING|WARN|ERROR|CRITICAL|FATAL)(?::|\s+-\s)"
    r"|\[(?:DEBUG|INFO|NOTICE|WARNING|WARN|ERROR|CRITICAL|FATAL)\]"
    r"|[IWEF]\d{4} \d\d:\d\d:\d\d"
    r"|[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d "
)


class Reader(LineReader):
    """Reads one traceback from ``lines[start:count]``.

    ``depth`` is the exception-group nesting: lines at depth d > 0 carry a
    ``"  " * d + "| "`` margin that is stripped before they are read.
    ``i`` ends on the first line after the traceback; ``first_header`` is the
    first ``Traceback`` header line seen.
    """

    def __init__(self, lines: list[str], start: int, count: int) -> None:
        super().__init__(lines, start, count)
        self.first_header: int | None = None

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
            return self._sentence_at_top()
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

    def _sentence_at_top(self) -> str | None:
        # sentence() at depth 0, where lines need no unboxing.
        lines, count, j = self.lines, self.count, self.i
        while j < count and not lines[j].strip():
            j += 1
        if j >= count:
            return None
        relation = SENTENCE_RELATIONS.get(lines[j].strip())
        if relation is None:
            return None
        # Only empty lines may come before the sentence, not blank ones.
        k = self.i
        while lines[k] == "":
            k += 1
        if k != j:
            return None
        j += 1
        while j < count and lines[j] == "":
            j += 1
        self.i = j
        return relation

    def exception(self, depth: int) -> list[object] | None:
        """The fields of the next exception, in ExceptionInfo order."""
        i, lines, count = self.i, self.lines, self.count
        if depth:
            content = self.at(i, depth)
            if content is None:
                return None
        elif i >= count:
            return None
        else:
            content = lines[i]
            if content.startswith("  "):
                boxed = self.at(i, 1)
                if boxed is not None:
                    return self.exception(1) if self._group_start(boxed) else None

        group = content == GROUP_HEADER
        header = group or content == HEADER
        if header:
            if self.first_header is None:
                self.first_header = i
            self.i = i + 1
        frames, location = self.frames(depth)

        i = self.i
        if depth:
            head = self.at(i, depth)
        else:
            head = lines[i] if i < count else None
        match = EXCEPTION_LINE.match(head) if head is not None else None
        if match is None:
            if not header and not frames and location is None:
                return None
            return [None, None, frames, None, None, 0, location, header, True]
        self.i += 1
        message = self.message(match.group("message") or "", depth)
        subs = None
        more = 0
        if group or self._rule_column(self.i) == 2 * (depth + 1):
            subs, more = self.sub_exceptions(depth)
        return [
            match.group("type"),
            message,
            frames,
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

    def message(self, first: str, depth: int) -> str:
        # FIXME(message-end): a plain line right after a traceback that does
        # not look like the start of a log record ("[2025-...", "ERROR:x:")
        # is read as part of the message; CPython's output cannot tell.
        if not depth and self.i >= self.count:
            return first
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
            content = (self.at(self.i, inner) or "").strip()
            if rule[2] == "...":
                counted = _MORE.match(content)
                if counted is not None:
                    more = int(counted.group(1))
                    self.i += 1
                continue
            if _DEPTH_LIMIT.match(content):
                # A group nested deeper than CPython prints: it is not shown,
                # so it is not in the parse either.
                self.i += 1
                continue
            chain, dangling = self.chain(inner)
            if dangling and chain:
                chain[-1] = replace(chain[-1], incomplete=True)
            if chain:
                chains.append(tuple(chain))
        return tuple(chains), more
