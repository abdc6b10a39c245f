"""``deployconsole tail``: the live errors of a project, in a terminal.

The same stream as the window's: one TailLogEntries session that reconnects,
backfills and drops duplicates, and the same ingest path, so a traceback a
log agent split over several entries is printed once, joined. By default
only errors (severity ERROR and above, 5xx responses, entries holding a
traceback); ``--all`` prints every entry. With ``--json`` each entry is one
JSON object on its own line, written at once.

Stream news (reconnects, entries the service dropped) goes to stderr, so
that stdout stays the entries alone.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from typing import TYPE_CHECKING, Any, TextIO

from deployconsole.cli.common import EXIT_FAILED, EXIT_UNREACHABLE, UsageError

if TYPE_CHECKING:  # the heavy imports happen inside run()
    from deployconsole.core.ingest import IngestPipeline, StreamEvent
    from deployconsole.core.logentry import LogRecord

log = logging.getLogger("deployconsole.cli")

EXIT_INTERRUPTED = 130
# How often held tracebacks are looked at while the stream is quiet.
_POLL = 0.1
# Failures the user must fix (credentials, project id): like unreachable.
_ACCESS_REASONS = frozenset({"PERMISSION_DENIED", "UNAUTHENTICATED", "NOT_FOUND"})
# Stream news worth a line on stderr.
_ANNOUNCED = frozenset(
    {"reconnecting", "suppressed", "sampling", "backfilled", "unreadable"}
)


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "tail",
        parents=[common],
        help="follow the live errors of a project",
        description="Follow the project's log entries as they arrive: by "
        "default the errors only (severity ERROR and above, 5xx responses, "
        "entries holding a Python traceback). Reconnects by itself; Ctrl-C "
        "stops.",
        epilog="exit codes: 1 the stream failed; 2 usage error; 3 Cloud "
        "Logging unreachable or permission missing; 130 stopped by Ctrl-C",
    )
    parser.add_argument(
        "--service", dest="services", action="append", metavar="S",
        help="only entries of service S (repeatable)",
    )
    parser.add_argument(
        "--version", dest="versions", action="append", metavar="V",
        help="only entries of version V (repeatable)",
    )
    parser.add_argument(
        "--all", dest="everything", action="store_true",
        help="every entry, not only errors",
    )
    parser.add_argument(
        "--json", dest="as_json", action="store_true",
        help="one JSON object per entry and line",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from deployconsole.cli.versions_cmd import endpoint_from_args, error_exit
    from deployconsole.core.ingest import IngestPipeline, IngestSettings
    from deployconsole.core.operations import AdminError
    from deployconsole.gcp.logs import TailSession
    from deployconsole.gcp.tail_filter import ScopeError, TailScope

    try:
        endpoint = endpoint_from_args(args)
    except AdminError as error:  # not signed in: nothing was sent
        return error_exit(error)
    everything = bool(getattr(args, "everything", False))
    try:
        scope = TailScope(
            services=tuple(getattr(args, "services", None) or ()),
            versions=tuple(getattr(args, "versions", None) or ()),
            everything=everything,
            request_logs=False,
        )
    except ScopeError as exc:
        raise UsageError(f"tail: {exc}") from exc

    if not getattr(args, "verbose", False):
        # Stream news reaches stderr as the events' own sentences; the
        # session's log lines would say it all a second time.
        logging.getLogger("deployconsole.tail").setLevel(logging.CRITICAL)
    printer = _Printer(sys.stdout, bool(getattr(args, "as_json", False)), everything)
    # The terminal shows entries, not rates: no request logs, no health.
    pipeline = IngestPipeline(IngestSettings(track_health=False))
    session = TailSession(endpoint, scope, pipeline).start()
    try:
        return _follow(pipeline, printer)
    except KeyboardInterrupt:
        session.stop()
        _print_quietly(printer, pipeline.finish().records)
        print("deployconsole tail: stopped", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (``| head``): end quietly, and keep Python
        # from failing again on flushing stdout at exit.
        session.stop()
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    finally:
        session.stop()


def _follow(pipeline: IngestPipeline, printer: _Printer) -> int:
    connected = False
    while True:
        pipeline.wait(_POLL)
        batch = pipeline.drain()
        for record in batch.records:
            printer.record(record)
        if batch.dropped:
            print(
                f"deployconsole tail: {batch.dropped} entries were not printed: "
                "the terminal did not keep up",
                file=sys.stderr,
            )
        for event in batch.events:
            code = _on_event(event, connected)
            if code is not None:
                return code
            connected = connected or event.kind == "connected"


def _on_event(event: StreamEvent, connected: bool) -> int | None:
    """Report a stream event; an exit code if the command should end."""
    if event.kind == "failed":
        print(f"deployconsole tail: {event.message}", file=sys.stderr)
        return EXIT_UNREACHABLE if event.reason in _ACCESS_REASONS else EXIT_FAILED
    if event.kind == "reconnecting" and not connected:
        # Never reached the service: nothing to wait for in a terminal.
        message = event.message.split("; reconnecting", 1)[0]
        print(f"deployconsole tail: {message}", file=sys.stderr)
        return EXIT_UNREACHABLE
    if event.kind in _ANNOUNCED:
        print(f"deployconsole tail: {event.message}", file=sys.stderr)
    elif event.kind == "connected" and not connected:
        print(f"deployconsole tail: {event.message} Ctrl-C stops.", file=sys.stderr)
    return None


def _print_quietly(printer: _Printer, records: tuple[LogRecord, ...]) -> None:
    try:
        for record in records:
            printer.record(record)
    except (BrokenPipeError, KeyboardInterrupt):
        pass


class _Printer:
    """Writes records as text or JSON lines, each flushed at once."""

    def __init__(self, out: TextIO, as_json: bool, everything: bool) -> None:
        self.out = out
        self.as_json = as_json
        self.everything = everything

    def record(self, record: LogRecord) -> None:
        from deployconsole.core.logentry import is_error

        if not self.everything and not is_error(record):
            return
        text = self._json(record) if self.as_json else self._text(record)
        self.out.write(text + "\n")
        self.out.flush()

    def _json(self, record: LogRecord) -> str:
        from deployconsole.core.fingerprint import fingerprint
        from deployconsole.core.groups import iso_time

        traceback: dict[str, Any] | None = None
        key: str | None = None
        if record.tracebacks:
            # FIXME(tail-json-many): an entry with several tracebacks (a
            # python27 request that logged more than one) shows the last,
            # the one its summary names.
            last = record.tracebacks[-1]
            key = fingerprint(last)
            traceback = {
                "source": record.insert_id,
                "timestamp": iso_time(record.timestamp),
                "service": record.service,
                "version": record.version,
                "fingerprint": key,
            }
            traceback.update(last.to_json())
        document = {
            "insert_id": record.insert_id,
            "timestamp": iso_time(record.timestamp),
            "service": record.service,
            "version": record.version,
            "severity": record.severity or "DEFAULT",
            "status": record.status,
            "summary": record.summary,
            "fingerprint": key,
            "traceback": traceback,
        }
        return json.dumps(document, ensure_ascii=False)

    def _text(self, record: LogRecord) -> str:
        from deployconsole.core.groups import iso_time

        stamp = iso_time(record.timestamp) or "-"
        where = "/".join(p for p in (record.service, record.version) if p) or "-"
        status = "" if record.status is None else f" {record.status}"
        line = (
            f"{stamp} {record.severity or 'DEFAULT':<8} {where}{status} "
            f"{record.summary}"
        )
        lines = [line]
        for traceback in record.tracebacks:
            lines.extend("    " + text for text in traceback.format().split("\n"))
        return "\n".join(lines)
