"""``deployconsole guard SERVICE VERSION``: a guarded rollout for CD pipelines.

Smoke-checks the version, then moves the service's traffic to it in steps,
holding each while its errors are compared with the baseline's, and rolls
back by itself when a step fails. Each step is printed as it goes (on
stderr with ``--json``, which prints the report with its timeline on
stdout).

Exit codes: 0 promoted; 1 rejected by the smoke check, rolled back or
aborted (the reason printed); 2 usage or configuration error; 3 App Engine
or Cloud Logging unreachable, or permission missing (no traffic changed).

Ctrl-C (or SIGTERM, as a CD runner cancelling the job sends) aborts the
rollout (the split from before is restored); a second one leaves at once,
and the unfinished rollout is recorded for ``--resume`` or ``--abort``.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import sqlite3
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TextIO

from deployconsole.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    UsageError,
)
from deployconsole.cli.versions_cmd import endpoint_from_args

if TYPE_CHECKING:
    from deployconsole.core.rollout import RolloutGuard
    from deployconsole.core.rollout_model import GuardEvent, GuardResult, GuardSettings
    from deployconsole.gcp.guard_wiring import GuardSession

EXIT_HELP = (
    "exit codes: 0 promoted; 1 rejected by the smoke check, rolled back or "
    "aborted; 2 usage or configuration error; 3 App Engine or Cloud Logging "
    "unreachable or permission missing (no traffic changed)"
)
# Seconds to wait for the live log stream before giving up.
FEED_TIMEOUT = 30.0
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def duration(text: str) -> float:
    """argparse type: ``60s``, ``2m``, ``500ms`` or plain seconds."""
    match = _DURATION.match(text)
    if match is None:
        raise argparse.ArgumentTypeError(
            f"expected a duration such as 60s, 2m or 500ms, got {text!r}"
        )
    return float(match.group(1)) * _UNITS[match.group(2)]


def steps(text: str) -> tuple[float, ...]:
    """argparse type: ``1,10,50,100`` (percents; a % sign is allowed)."""
    try:
        return tuple(
            float(part.strip().removesuffix("%")) for part in text.split(",")
        )
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected percents separated by commas, such as 1,10,50,100, got "
            f"{text!r}"
        ) from None


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "guard",
        parents=[common],
        help="roll a version out in steps, rolling back by itself on errors",
        description="Smoke-check VERSION, then move SERVICE's traffic to it in "
        "steps, each held while its 5xx ratio and new error groups are compared "
        "with the baseline's; a failing step restores the split from before.",
        epilog=EXIT_HELP,
    )
    parser.add_argument("service", metavar="SERVICE")
    parser.add_argument("version", metavar="VERSION")
    parser.add_argument("--steps", type=steps, default=(1.0, 10.0, 50.0, 100.0),
                        help="the candidate's share at each step, in percent "
                        "(default 1,10,50,100)")
    parser.add_argument("--hold", type=duration, default=60.0, metavar="TIME",
                        help="how long each step is held (default 60s)")
    parser.add_argument("--max-error-ratio", type=float, default=0.02,
                        metavar="RATIO", help="a step fails above this 5xx ratio "
                        "(default 0.02)...")
    parser.add_argument("--factor", type=float, default=2.0,
                        help="...and above the baseline's ratio times this "
                        "(default 2)...")
    parser.add_argument("--min-requests", type=int, default=50, metavar="N",
                        help="...over at least N candidate requests (default 50)")
    parser.add_argument("--new-error-count", type=int, default=1, metavar="N",
                        help="a step fails when an error group first seen in the "
                        "candidate reaches N occurrences (default 1)")
    parser.add_argument("--smoke", action="extend", nargs="+", metavar="PATH",
                        help="paths the smoke check requests (default /)")
    parser.add_argument("--no-smoke", action="store_true",
                        help="skip the smoke check")
    parser.add_argument("--smoke-status", type=int, default=200, metavar="CODE",
                        help="the status each smoke path must answer (default 200)")
    parser.add_argument("--smoke-timeout", type=duration, default=10.0,
                        metavar="TIME", help="per smoke request (default 10s)")
    parser.add_argument("--smoke-retries", type=int, default=2, metavar="N",
                        help="further attempts of a failing smoke request "
                        "(default 2)")
    parser.add_argument("--json", action="store_true",
                        help="print the report with its timeline as JSON on "
                        "stdout (progress goes to stderr)")
    recovery = parser.add_mutually_exclusive_group()
    recovery.add_argument("--resume", action="store_true",
                          help="resume the service's unfinished rollout of VERSION "
                          "(its recorded settings apply)")
    recovery.add_argument("--abort", action="store_true",
                          help="abort the service's unfinished rollout of VERSION, "
                          "restoring the split from before it")
    parser.add_argument("--force", action="store_true",
                        help="with --resume/--abort: take the rollout over even "
                        "if its console seems to be running")
    parser.set_defaults(func=run)


def settings_from_args(args: argparse.Namespace) -> GuardSettings:
    from deployconsole.core.rollout_model import GuardSettings
    from deployconsole.core.smoke import SmokePlan

    if args.no_smoke and args.smoke:
        raise UsageError("--smoke and --no-smoke cannot be given together")
    try:
        plan = None if args.no_smoke else SmokePlan(
            paths=tuple(args.smoke or ("/",)),
            expected_status=args.smoke_status,
            timeout=args.smoke_timeout,
            retries=args.smoke_retries,
        )
        return GuardSettings(
            steps=args.steps,
            hold_seconds=args.hold,
            max_error_ratio=args.max_error_ratio,
            factor=args.factor,
            min_requests=args.min_requests,
            new_group_count=args.new_error_count,
            smoke=plan,
        )
    except ValueError as error:
        raise UsageError(str(error)) from None


def run(args: argparse.Namespace) -> int:
    from deployconsole.core.operations import AdminError
    from deployconsole.gcp.guard_wiring import open_guard_session
    from deployconsole.gcp.logs import TailBusy

    settings = settings_from_args(args)
    endpoint = endpoint_from_args(args)
    out = sys.stderr if args.json else sys.stdout
    try:
        session = open_guard_session(endpoint, args.service)
    except AdminError as error:
        return admin_exit(error)
    except TailBusy as error:
        print(f"deployconsole: {error}", file=sys.stderr)
        return EXIT_FAILED
    try:
        # App Engine first: a wrong service or a missing permission is said
        # at once, before waiting for the log stream.
        session.admin.get_service(args.service)
        problem = session.feed.wait_ready(FEED_TIMEOUT)
        if problem is not None:
            print(
                f"deployconsole: cannot watch the logs of {args.service}: {problem}. "
                "Nothing was changed.",
                file=sys.stderr,
            )
            return EXIT_UNREACHABLE
        return _guard(args, session, settings, out)
    except AdminError as error:
        return admin_exit(error)
    finally:
        session.close()


def _guard(
    args: argparse.Namespace,
    session: GuardSession,
    settings: GuardSettings,
    out: TextIO,
) -> int:
    from deployconsole.core.operations import AdminError
    from deployconsole.core.rollout_model import GuardConfigError
    from deployconsole.core.rollout_store import RolloutBusy

    try:
        guard = _make_guard(
            args, session, settings, lambda event: _print_event(event, out)
        )
    except RolloutBusy as error:
        print(
            f"deployconsole: {error} Run again with --resume or --abort.",
            file=sys.stderr,
        )
        return EXIT_USAGE
    except GuardConfigError as error:
        print(f"deployconsole: {error}", file=sys.stderr)
        return EXIT_USAGE
    except AdminError as error:
        return admin_exit(error)

    guard.start()
    with _terminate_as_interrupt():
        result = _wait(guard)
    if result is None:
        print(
            "deployconsole: left without finishing; the rollout is recorded, "
            "run again with --resume or --abort.",
            file=sys.stderr,
        )
        return 130
    code = exit_code(result)
    _print_result(result, out)
    if args.json:
        document = report_json(session, guard, result, code)
        print(json.dumps(document, indent=2))
    return code


def _make_guard(
    args: argparse.Namespace,
    session: GuardSession,
    settings: GuardSettings,
    listener: Callable[[GuardEvent], None],
) -> RolloutGuard:
    from deployconsole.core.rollout_model import GuardConfigError, settings_from_json

    if not (args.resume or args.abort):
        guard = session.guard(args.service, args.version, settings)
        guard.subscribe(listener)
        guard.prepare()
        return guard
    found = [
        record for record in session.store.unfinished(
            session.endpoint.project, args.service
        )
        if record.candidate == args.version
    ]
    if not found:
        raise GuardConfigError(
            f"No unfinished rollout of {args.version} in {args.service} is "
            "recorded."
        )
    record = found[-1]
    guard = session.guard(
        args.service, args.version, settings_from_json(record.settings)
    )
    guard.subscribe(listener)
    guard.adopt(record, "resume" if args.resume else "abort", force=args.force)
    return guard


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """A CD runner cancels a job with SIGTERM: treat it as Ctrl-C, so the
    rollout is aborted rather than left at a step."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _wait(guard: RolloutGuard) -> GuardResult | None:
    """The result; Ctrl-C aborts, a second Ctrl-C leaves (None)."""
    try:
        return _result(guard)
    except KeyboardInterrupt:
        print(
            "\nInterrupted: aborting the rollout and restoring the split from "
            "before it (Ctrl-C again to leave at once).",
            file=sys.stderr, flush=True,
        )
        guard.abort()
    try:
        return _result(guard)
    except KeyboardInterrupt:
        return None


def _result(guard: RolloutGuard) -> GuardResult:
    # Short waits, so that Ctrl-C is seen at once.
    while True:
        result = guard.wait(0.5)
        if result is not None:
            return result


def exit_code(result: GuardResult) -> int:
    # FIXME(exit-3): gcp.admin reports an UpdateService that ran out of
    # retries on UNAVAILABLE as possibly sent (a failure, not unreachable),
    # so that case exits 1 although the read-back shows nothing changed.
    if result.promoted:
        return EXIT_OK
    if result.unreachable:
        return EXIT_UNREACHABLE
    return EXIT_FAILED


def admin_exit(error: Any) -> int:
    from deployconsole.core.operations import ErrorKind

    print(f"deployconsole: {error.message}", file=sys.stderr)
    if error.kind in (ErrorKind.UNREACHABLE, ErrorKind.PERMISSION):
        return EXIT_UNREACHABLE
    if error.kind is ErrorKind.REFUSED:
        return EXIT_USAGE
    return EXIT_FAILED


def _print_event(event: GuardEvent, out: TextIO) -> None:
    from deployconsole.core.rollout_model import EventKind

    if event.kind in (EventKind.COMPARISON, EventKind.PROGRESS, EventKind.FINISHED):
        return
    if event.message:
        print(event.message, file=out, flush=True)


def _print_result(result: GuardResult, out: TextIO) -> None:
    word = {
        "promoted": "Promoted", "rejected": "Rejected", "rolled-back": "Rolled back",
        "aborted": "Aborted", "interrupted": "Stopped", "broken": "FAILED",
    }.get(result.state.value, result.state.value)
    where = result.split_after.describe() if result.split_after else "unknown"
    stream = out if result.promoted else sys.stderr
    print(f"{word}: {result.reason}", file=stream, flush=True)
    print(f"Split now: {where}.", file=stream, flush=True)
    for number, text in enumerate(result.tracebacks, 1):
        print(f"\nTraceback {number} of {len(result.tracebacks)}:", file=stream)
        print(text, file=stream, flush=True)


def report_json(
    session: GuardSession, guard: RolloutGuard, result: GuardResult, code: int
) -> dict[str, Any]:
    """The ``--json`` document: outcome, settings and timeline."""
    after = result.split_after
    return {
        "project": session.endpoint.project,
        "service": guard.service,
        "version": guard.candidate,
        "rollout_id": guard.record.id if guard.record is not None else None,
        "state": result.state.value,
        "exit_code": code,
        "reason": result.reason,
        "split_before": result.split_before.to_json(),
        "split_after": after.to_json() if after is not None else None,
        "steps_passed": result.steps_passed,
        "traffic_moved": result.traffic_moved,
        "settings": guard.settings.to_json(),
        "tracebacks": list(result.tracebacks),
        "timeline": _timeline(session, guard, result),
    }


def _timeline(
    session: GuardSession, guard: RolloutGuard, result: GuardResult
) -> list[dict[str, Any]]:
    # The store has the whole rollout, also what a console before this one
    # did; without it, this run's events.
    if guard.record is not None:
        try:
            return [event.data for event in session.store.events(guard.record.id)]
        except (OSError, sqlite3.Error) as error:
            print(f"deployconsole: cannot read the rollout's timeline: {error}",
                  file=sys.stderr)
    return [event.to_json() for event in result.events]
