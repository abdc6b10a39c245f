"""Lines of a traceback and the frames under its headers.

:class:`LineReader` is the base of ``traceback_reader.Reader``: it reads
lines with their exception-group margins stripped, and the frames (and a
SyntaxError location) that follow a header. The same frames come back with
every occurrence of an error and building them is most of the parse, so
whole runs of frame lines are cached, and checked line by line on use.
"""

from __future__ import annotations

import re

from deployconsole.core.traceback_model import Frame, SyntaxErrorLocation, make_frame

FRAME = re.compile(
    r'  File "(?P<file>.*)", line (?P<line>-?\d+|None)(?:, in (?P<func>.*))?$'
)
_REPEATED = re.compile(r"  \[Previous line repeated (\d+) more times?\]\s*$")
# Exception-group box rules: "+-+---- 1 ----", "  +---- 2 ----", "+-----".
RULE = re.compile(r"( *)(\+-\+|\+)-{3,}(?: (\d+|\.\.\.) -{3,})?\s*$")

_CACHE_LIMIT = 20_000
_frame_cache: dict[str, Frame] = {}

# A run of frame lines (the indented lines under a header, margins included)
# -> (its lines, frames, SyntaxError location, lines used, depth). Runs are
# found by their first line and compared line by line: cheaper than joining
# and hashing the whole run, and a hit needs no scan for where it ends.
_Region = tuple[list[str], tuple[Frame, ...], SyntaxErrorLocation | None, int, int]
_regions: dict[str, list[_Region]] = {}
_REGION_KEYS = 4_000
_REGION_VARIANTS = 8
_MARGINS: list[tuple[str, ...]] = [("  ",)]


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


def _margins(depth: int) -> tuple[str, ...]:
    """How the lines of a run of frame lines start, at ``depth``."""
    while len(_MARGINS) <= depth:
        indent = "  " * len(_MARGINS)
        _MARGINS.append((indent + "|   ", indent + "+   "))
    return _MARGINS[depth]


def _remember(
    block: list[str],
    frames: tuple[Frame, ...],
    location: SyntaxErrorLocation | None,
    used: int,
    depth: int,
) -> None:
    if len(_regions) >= _REGION_KEYS:
        _regions.clear()
    variants = _regions.setdefault(block[0], [])
    if len(variants) >= _REGION_VARIANTS:
        del variants[0]
    variants.append((block, frames, location, used, depth))


class LineReader:
    """Reads ``lines[:count]`` from line ``i`` on.

    ``depth`` is the exception-group nesting: lines at depth d > 0 carry a
    ``"  " * d + "| "`` margin that is stripped before they are read.
    """

    def __init__(self, lines: list[str], start: int, count: int) -> None:
        self.lines = lines
        self.count = count
        self.i = start

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

    def frames(
        self, depth: int
    ) -> tuple[tuple[Frame, ...], SyntaxErrorLocation | None]:
        """The frames (and SyntaxError location) under a header.

        The whole run of frame lines is looked up first: an error that comes
        back prints the very same frames.
        """
        lines, count, start = self.lines, self.count, self.i
        if start >= count:
            return (), None
        for block, frames, location, used, at_depth in _regions.get(lines[start], ()):
            end = start + len(block)
            if (
                at_depth == depth
                and end <= count
                and lines[end - 1] == block[-1]
                and lines[start:end] == block
                and self._ends_run(end, depth, location)
            ):
                self.i = start + used
                return frames, location
        margins = _margins(depth)
        end = start
        while end < count and lines[end].startswith(margins):
            end += 1
        if depth:
            found, location = self.boxed_frames(depth)
        else:
            found, location = self._read_frames()
        frames = tuple(found)
        used = self.i - start
        # Keep only a run whose reading depends on its own lines (a caret
        # line after a SyntaxError's source is checked on use instead).
        if end > start and used <= end - start and self._ends_run(end, depth, None):
            _remember(lines[start:end], frames, location, used, depth)
        return frames, location

    def _ends_run(
        self, end: int, depth: int, location: SyntaxErrorLocation | None
    ) -> bool:
        # True if line ``end`` cannot be read as part of the run before it.
        after = self.at(end, depth)
        if after is None:
            return True
        if after.startswith("  "):
            return False
        return location is None or not is_caret_line(after)

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
