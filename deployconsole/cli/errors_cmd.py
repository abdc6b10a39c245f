"""``deployconsole errors``: the error groups in exported logs.

Reads a ``gcloud logging read --format=json`` export (a JSON array), JSON
Lines of LogEntries, or any plain log file, finds the Python tracebacks
(joining those split over several entries), groups them by fingerprint and
prints the groups, biggest first, or everything as JSON with ``--json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import shutil
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from deployconsole.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, UsageError
from deployconsole.core.fingerprint import fingerprint
from deployconsole.core.groups import ErrorGroup, ErrorGroups, iso_time
from deployconsole.core.logentry import (
    EntryError,
    LogRecord,
    parse_rfc3339,
    record_from_json,
)
from deployconsole.core.reassembly import Reassembler
from deployconsole.core.traceback_model import Traceback
from deployconsole.core.tracebacks import PREAMBLE_RECORD, parse_tracebacks

log = logging.getLogger("deployconsole.errors")

Warn = Callable[[str], None]

_ARRAY_START = re.compile(r"\[\s*(?:\{|\])")
_TEXT_TIME = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[ T](\d\d):(\d\d):(\d\d)(?:[,.](\d{1,9}))?"
)


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "errors",
        parents=[common],
        help="group the Python tracebacks in exported logs",
        description="Find the Python tracebacks in exported logs and group "
        "them by error: a `gcloud logging read --format=json` export (JSON "
        "array), JSON Lines of LogEntries, or any plain log file.",
    )
    parser.add_argument(
        "file",
        nargs="?",
        metavar="FILE",
        help="the log file; - or nothing reads standard input",
    )
    parser.add_argument(
        "--json",
        dest="as_json",
        action="store_true",
        help="print groups and tracebacks as one JSON object",
    )
    parser.add_argument("--service", metavar="S", help="only entries of service S")
    parser.add_argument(
        "--version", dest="version_id", metavar="V", help="only entries of version V"
    )
    parser.set_defaults(func=run)


@dataclass
class Analysis:
    """What one run found."""

    read: int = 0
    entries: int = 0
    joined: int = 0
    groups: ErrorGroups = field(default_factory=ErrorGroups)
    tracebacks: list[dict[str, Any]] = field(default_factory=list)


def run(args: argparse.Namespace) -> int:
    path = getattr(args, "file", None) or "-"
    name = "standard input" if path == "-" else path
    if path == "-" and sys.stdin.isatty():
        raise UsageError("errors: give a log FILE, or pipe logs into standard input")

    def warn(message: str) -> None:
        print(f"deployconsole errors: {name}: {message}", file=sys.stderr)

    try:
        text = _read(path, warn)
    except OSError as exc:
        print(
            f"deployconsole errors: cannot read {name}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    try:
        analysis = analyse(
            text,
            service=getattr(args, "service", None),
            version=getattr(args, "version_id", None),
            warn=warn,
        )
    except Exception:  # never show the user a traceback of our own
        log.debug("Analysing %s failed.", name, exc_info=True)
        print(
            f"deployconsole errors: could not analyse {name} (an internal "
            "error; run with --verbose for details)",
            file=sys.stderr,
        )
        return EXIT_FAILED
    if not analysis.read:
        warn("nothing to read: no log entries and no text")
        return EXIT_USAGE
    if getattr(args, "as_json", False):
        document = {
            "groups": [group.to_json() for group in analysis.groups.ranked()],
            "tracebacks": analysis.tracebacks,
        }
        json.dump(document, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    else:
        width = shutil.get_terminal_size().columns if sys.stdout.isatty() else None
        sys.stdout.write(render_table(analysis, width))
    return EXIT_OK


def _read(path: str, warn: Warn) -> str:
    if path == "-":
        data = sys.stdin.buffer.read()
    else:
        with open(path, "rb") as handle:
            data = handle.read()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        warn(f"not valid UTF-8 (first bad byte at offset {exc.start}); read anyway")
        text = data.decode("utf-8", "replace")
    return text


def analyse(
    text: str,
    *,
    service: str | None = None,
    version: str | None = None,
    warn: Warn = lambda message: None,
) -> Analysis:
    """Group the tracebacks in an export or a plain log text."""
    head = text.lstrip()
    if head.startswith("{") or _ARRAY_START.match(head):
        return _analyse_entries(text, service, version, warn)
    analysis = Analysis(read=1 if head else 0)
    if service or version:
        warn("plain text names no service or version: --service/--version ignored")
    for tb in parse_tracebacks(text, preamble=PREAMBLE_RECORD):
        timestamp = _text_time(tb.preamble or "")
        _count(analysis, tb, tb.start_line + 1, timestamp, "", "")
    return analysis


def _analyse_entries(
    text: str, service: str | None, version: str | None, warn: Warn
) -> Analysis:
    analysis = Analysis()
    records: list[LogRecord] = []
    for line, value in _json_values(text, warn):
        try:
            record = record_from_json(value)
        except EntryError as exc:
            warn(f"line {line}: not a LogEntry ({exc}); skipped")
            continue
        analysis.read += 1
        if (service and record.service != service) or (
            version and record.version != version
        ):
            continue
        records.append(record)
    analysis.entries = len(records)

    # Exports come newest first by default; split tracebacks join in
    # timestamp order, so feed them oldest first.
    position = {id(record): n for n, record in enumerate(records)}
    by_insert_id: dict[str, int] = {}
    for n, record in enumerate(records):
        by_insert_id.setdefault(record.insert_id, n)
    ordered = list(records)
    stamps = [r.timestamp for r in records if r.timestamp is not None]
    if len(stamps) > 1 and stamps[0] > stamps[-1]:
        ordered.reverse()
    ordered.sort(key=lambda r: (r.timestamp is not None, r.timestamp or 0.0))

    reassembler = Reassembler()
    out: list[LogRecord] = []
    for record in ordered:
        out.extend(reassembler.feed(record))
    out.extend(reassembler.finish())
    analysis.joined = len(records) - len(out)

    def place(record: LogRecord) -> int:
        n = position.get(id(record))
        return n if n is not None else by_insert_id.get(record.insert_id, len(records))

    for record in sorted(out, key=place):
        for tb in record.tracebacks:
            _count(
                analysis,
                tb,
                record.insert_id,
                record.timestamp,
                record.service,
                record.version,
            )
    return analysis


def _count(
    analysis: Analysis,
    tb: Traceback,
    source: str | int,
    timestamp: float | None,
    service: str,
    version: str,
) -> None:
    key = fingerprint(tb)
    analysis.groups.add_traceback(
        tb, timestamp=timestamp, service=service, version=version, key=key
    )
    item: dict[str, Any] = {
        "source": source,
        "timestamp": iso_time(timestamp),
        "service": service,
        "version": version,
        "fingerprint": key,
    }
    item.update(tb.to_json())
    analysis.tracebacks.append(item)


def _json_values(text: str, warn: Warn) -> Iterator[tuple[int, object]]:
    """(line number, value) for each entry of a JSON array or JSON Lines."""
    head = text.lstrip()
    if head.startswith("["):
        yield from _array_values(text, warn)
        return
    lines = text.split("\n")
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as exc:
            if number == _first_line(lines):
                whole = _whole_object(text)
                if whole is not None:
                    yield number, whole
                    return
            warn(f"line {number}: not JSON ({exc.msg}); skipped")


def _first_line(lines: list[str]) -> int:
    for number, line in enumerate(lines, 1):
        if line.strip():
            return number
    return 0


def _whole_object(text: str) -> object | None:
    # One pretty-printed entry rather than JSON Lines.
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _array_values(text: str, warn: Warn) -> Iterator[tuple[int, object]]:
    decoder = json.JSONDecoder()
    pos = text.index("[") + 1
    end = len(text)
    while True:
        pos = _skip_space(text, pos)
        if pos < end and text[pos] == "]":
            return
        try:
            value, after = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            line = text.count("\n", 0, exc.pos) + 1
            warn(f"line {line}: not JSON ({exc.msg}); the rest of the array skipped")
            return
        yield text.count("\n", 0, pos) + 1, value
        pos = _skip_space(text, after)
        if pos < end and text[pos] == ",":
            pos += 1
        elif pos >= end or text[pos] != "]":
            line = text.count("\n", 0, pos) + 1
            warn(f"line {line}: expected ',' or ']' in the JSON array; rest skipped")
            return


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _text_time(preamble: str) -> float | None:
    # FIXME(errors-plain-text): a time in a plain log line is taken as UTC;
    # the log may be in local time.
    match = _TEXT_TIME.search(preamble)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction = match.groups()
    stamp = f"{year}-{month}-{day}T{hour}:{minute}:{second}"
    if fraction:
        stamp += "." + fraction
    try:
        return parse_rfc3339(stamp + "Z")
    except ValueError:
        return None


def render_table(analysis: Analysis, width: int | None = None) -> str:
    """The groups as a table, biggest first, with a summary line.

    With a ``width`` (a terminal's), messages are clipped to fit it.
    """
    groups = analysis.groups.ranked()
    lines: list[str] = []
    if groups:
        header = ("COUNT", "TYPE", "FIRST IN", "LAST SEEN (UTC)", "MESSAGE")
        rows = [_row(group) for group in groups]
        widths = [
            min(max(len(r[n]) for r in [header, *rows]), cap)
            for n, cap in enumerate((7, 40, 22, 19))
        ]
        for row in [header, *rows]:
            cells = [
                row[0].rjust(widths[0]),
                *(_clip(row[n], widths[n]).ljust(widths[n]) for n in (1, 2, 3)),
            ]
            used = sum(widths) + 2 * len(widths)
            room = None if width is None else max(width - used, 20)
            cells.append(row[4] if room is None else _clip(row[4], room))
            lines.append("  ".join(cells).rstrip())
        lines.append("")
    total = len(analysis.tracebacks)
    summary = f"{total} traceback{'s' * (total != 1)} in {len(groups)} group"
    summary += "s" * (len(groups) != 1)
    if analysis.entries:
        plural = "ies" if analysis.entries != 1 else "y"
        summary += f" from {analysis.entries} entr{plural}"
    if analysis.joined:
        summary += f" ({analysis.joined} split entries joined)"
    lines.append(summary + ".")
    return "\n".join(lines) + "\n"


def _row(group: ErrorGroup) -> tuple[str, str, str, str, str]:
    last = iso_time(group.last_seen)
    seen = last[:19].replace("T", " ") if last else "-"
    message = group.message.split("\n", 1)[0]
    return (
        str(group.count),
        group.type or "(incomplete)",
        group.first_version or "-",
        seen,
        message,
    )


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"
