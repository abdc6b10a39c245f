"""Values for a parsed Python traceback: frames, exceptions, chains, groups.

The shapes follow what CPython prints, not what it knows: a frame has the
source text as printed (or none), an exception has its type as printed
(qualified or bare) and every line of its message (notes included), a chain
lists the exceptions oldest first, and an exception group holds its
sub-exceptions as chains of their own.

``to_json()`` gives the ``deployconsole errors --json`` shape; ``format()``
renders the value back as CPython would print it ("copy as text").
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

T = TypeVar("T")


def frozen_maker(cls: type[T]) -> Callable[..., T]:
    """A fast constructor for a frozen slots dataclass: all fields, in order.

    A frozen dataclass's ``__init__`` stores each field through
    ``object.__setattr__``, about eight times slower than a plain store, and
    the log hot path builds several values per entry. This builds the object
    as an instance of a subclass with plain stores, then turns it into an
    instance of ``cls`` (same slots, so the same layout): the result is
    indistinguishable from one made by ``cls(...)``. No defaults, no checks.
    """
    names = [item.name for item in fields(cls)]  # type: ignore[arg-type]
    builder = type(
        f"_{cls.__name__}Builder",
        (cls,),
        {
            "__slots__": (),
            # Both, so that the type gets the generic C attribute setter.
            "__setattr__": object.__setattr__,
            "__delattr__": object.__delattr__,
        },
    )
    body = "".join(f"    obj.{name} = {name}\n" for name in names)
    source = (
        f"def make({', '.join(names)}):\n    obj = new(builder)\n{body}"
        "    obj.__class__ = cls\n    return obj\n"
    )
    namespace: dict[str, Any] = {"new": object.__new__, "builder": builder, "cls": cls}
    exec(source, namespace)
    make: Callable[..., T] = namespace["make"]
    make.__name__ = f"make_{cls.__name__}"
    return make


HEADER = "Traceback (most recent call last):"
GROUP_HEADER = "Exception Group Traceback (most recent call last):"
CAUSE_SENTENCE = "The above exception was the direct cause of the following exception:"
CONTEXT_SENTENCE = "During handling of the above exception, another exception occurred:"

CAUSE = "cause"
CONTEXT = "context"
SENTENCES = {CAUSE: CAUSE_SENTENCE, CONTEXT: CONTEXT_SENTENCE}


@dataclass(frozen=True, slots=True)
class Frame:
    """One ``File "...", line N, in function`` entry.

    ``source`` is the printed source text: one line before 3.13, every printed
    line of a multi-line statement from 3.13 on (joined with newlines, with
    the four-space frame indent removed); None when nothing was printed.
    ``repeated`` counts the frames that ``[Previous line repeated N more
    times]`` stands for after this one.
    """

    file: str
    line: int | None
    function: str
    source: str | None = None
    repeated: int = 0

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "file": self.file,
            "line": self.line,
            "function": self.function,
            "source": self.source,
        }
        if self.repeated:
            out["repeated"] = self.repeated
        return out


@dataclass(frozen=True, slots=True)
class SyntaxErrorLocation:
    """The ``File "x", line N`` block CPython prints under a SyntaxError."""

    file: str
    line: int | None
    source: str | None = None
    caret: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "source": self.source,
            "caret": self.caret,
        }


@dataclass(frozen=True, slots=True)
class ExceptionInfo:
    """One exception of a chain.

    ``type`` and ``message`` are None only when the text was cut before the
    exception line (``incomplete``). ``message`` is "" for a bare ``Type``
    line. ``relation_to_next`` says how the next exception in the chain came
    about: ``"cause"`` (raise ... from) or ``"context"`` (raised while
    handling), None for the last one. ``sub_exceptions`` is None unless this
    is an exception group; then each item is the chain of one sub-exception,
    and ``more_sub_exceptions`` counts those CPython left out ("and N more
    exceptions").
    """

    type: str | None
    message: str | None
    frames: tuple[Frame, ...] = ()
    relation_to_next: str | None = None
    sub_exceptions: tuple[tuple[ExceptionInfo, ...], ...] | None = None
    more_sub_exceptions: int = 0
    syntax_error: SyntaxErrorLocation | None = None
    has_traceback_header: bool = True
    incomplete: bool = False
    message_truncated: bool = False

    @property
    def is_group(self) -> bool:
        return self.sub_exceptions is not None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": self.type,
            "message": self.message,
            "relation_to_next": self.relation_to_next,
            "frames": [frame.to_json() for frame in self.frames],
        }
        if self.sub_exceptions is not None:
            out["sub_exceptions"] = [
                [exc.to_json() for exc in chain] for chain in self.sub_exceptions
            ]
            if self.more_sub_exceptions:
                out["more_sub_exceptions"] = self.more_sub_exceptions
        if self.syntax_error is not None:
            out["syntax_error"] = self.syntax_error.to_json()
        if self.incomplete:
            out["incomplete"] = True
        if self.message_truncated:
            out["message_truncated"] = True
        return out


@dataclass(frozen=True, slots=True)
class Traceback:
    """Everything CPython printed for one uncaught or logged exception.

    ``exceptions`` is the chain in printed order: the first cause first, the
    exception finally raised last. ``preamble`` is the log text just before
    the traceback (a logger's message line), ``incomplete`` says the text was
    cut short, and ``start_line`` is the 0-based line of the parsed text
    where the traceback begins.
    """

    exceptions: tuple[ExceptionInfo, ...]
    preamble: str | None = None
    incomplete: bool = False
    # Where it was found, not what it is: left out of equality.
    start_line: int = field(default=0, compare=False)

    @property
    def final(self) -> ExceptionInfo:
        """The exception finally raised (the last of the chain)."""
        return self.exceptions[-1]

    @property
    def type(self) -> str:
        """The type of the last exception whose type is known, else ""."""
        for exc in reversed(self.exceptions):
            if exc.type is not None:
                return exc.type
        return ""

    @property
    def message(self) -> str:
        for exc in reversed(self.exceptions):
            if exc.type is not None:
                return exc.message or ""
        return ""

    def headline(self) -> str:
        """``Type: first line of the message``, for one-line displays."""
        kind = self.type or "(incomplete traceback)"
        first = self.message.split("\n", 1)[0]
        return f"{kind}: {first}" if first else kind

    def to_json(self) -> dict[str, Any]:
        """The traceback part of an ``errors --json`` traceback object."""
        return {
            "preamble": self.preamble,
            "incomplete": self.incomplete,
            "exceptions": [exc.to_json() for exc in self.exceptions],
        }

    def format(self, *, preamble: bool = True) -> str:
        """The traceback as CPython prints it (with the preamble first)."""
        lines: list[str] = []
        if preamble and self.preamble:
            lines.extend(self._preamble_lines())
        lines.extend(_format_chain(self.exceptions, _Box(0)))
        return "\n".join(lines)

    def _preamble_lines(self) -> list[str]:
        lines = (self.preamble or "").split("\n")
        first = self.exceptions[0]
        if first.has_traceback_header or first.type is None:
            return lines
        # A chain that starts without a header (a cause that was never
        # raised) sits inside the preamble text; keep only what precedes it.
        head = first.type + (": " + first.message if first.message else "")
        head = head.split("\n", 1)[0]
        for n, line in enumerate(lines):
            if line == head or line == "  | " + head:
                return lines[:n]
        return lines


class _Box:
    """Where exception-group output is drawn: the nesting depth.

    Mirrors CPython's formatting context: lines inside a group carry a
    ``"  " * depth + "| "`` margin, and the top-level group header a ``+``.
    """

    __slots__ = ("depth",)

    def __init__(self, depth: int) -> None:
        self.depth = depth

    def emit(self, text: str, margin: str = "|") -> str:
        if not self.depth:
            return text
        return (
            "  " * self.depth + margin + " " + text
            if text
            else ("  " * self.depth + margin)
        )


def _format_chain(chain: tuple[ExceptionInfo, ...], box: _Box) -> Iterator[str]:
    for exc in chain:
        if exc.is_group and box.depth == 0:
            yield from _format_group(exc, _Box(1), top_level=True)
        elif exc.is_group:
            yield from _format_group(exc, box, top_level=False)
        else:
            yield from (box.emit(line) for line in _format_plain(exc))
        if exc.relation_to_next in SENTENCES:
            yield box.emit("")
            yield box.emit(SENTENCES[exc.relation_to_next])
            yield box.emit("")


def _format_plain(exc: ExceptionInfo) -> Iterator[str]:
    if exc.has_traceback_header:
        yield HEADER
    yield from _format_body(exc)


def _format_body(exc: ExceptionInfo) -> Iterator[str]:
    for frame in exc.frames:
        line = "None" if frame.line is None else str(frame.line)
        yield f'  File "{frame.file}", line {line}, in {frame.function}'
        if frame.source is not None:
            for source_line in frame.source.split("\n"):
                yield "    " + source_line
        if frame.repeated:
            plural = "s" if frame.repeated > 1 else ""
            yield f"  [Previous line repeated {frame.repeated} more time{plural}]"
    location = exc.syntax_error
    if location is not None:
        line = "None" if location.line is None else str(location.line)
        yield f'  File "{location.file}", line {line}'
        if location.source is not None:
            yield "    " + location.source
        if location.caret is not None:
            yield "    " + location.caret
    if exc.type is None:
        return
    if exc.message:
        yield from f"{exc.type}: {exc.message}".split("\n")
    else:
        yield exc.type


def _format_group(exc: ExceptionInfo, box: _Box, *, top_level: bool) -> Iterator[str]:
    if exc.has_traceback_header:
        yield box.emit(GROUP_HEADER, "+" if top_level else "|")
    yield from (box.emit(line) for line in _format_body(exc))
    chains = exc.sub_exceptions or ()
    titles = [str(n + 1) for n in range(len(chains))]
    if exc.more_sub_exceptions:
        titles.append("...")
    indent = "  " * box.depth
    inner = _Box(box.depth + 1)
    for n, title in enumerate(titles):
        corner = "+-" if n == 0 else "  "
        yield f"{indent}{corner}+---------------- {title} ----------------"
        if title == "...":
            count = exc.more_sub_exceptions
            plural = "s" if count > 1 else ""
            yield inner.emit(f"and {count} more exception{plural}")
        else:
            yield from _format_chain(chains[n], inner)
    if titles and not _last_chain_has_group(exc):
        yield "  " * inner.depth + "+------------------------------------"


def _last_chain_has_group(exc: ExceptionInfo) -> bool:
    # CPython lets a group printed inside the last sub-exception's chain draw
    # the closing rule for its parent too, so the parent draws none.
    if exc.more_sub_exceptions or not exc.sub_exceptions:
        return False
    return any(sub.is_group for sub in exc.sub_exceptions[-1])


make_frame = frozen_maker(Frame)
make_exception = frozen_maker(ExceptionInfo)
make_traceback = frozen_maker(Traceback)
