"""``deployconsole report SERVICE --since TIME``: draft an incident report.

Writes Markdown in the DERP form (Detection, Escalation, Remediation,
Prevention) with the service's timeline since TIME, the impact and the top
tracebacks; the parts only people know are left as marked prompts. Prints
it, or writes it to ``--output``.

Exit codes: 0 drafted; 1 failed (the journal could not be read, the file
not written); 2 usage error; 3 App Engine or Cloud Logging unreachable or
permission missing.
"""

from __future__ import annotations

import argparse
import re
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

from deployconsole.cli.common import EXIT_FAILED, EXIT_OK, UsageError
from deployconsole.cli.guard_cmd import admin_exit
from deployconsole.cli.versions_cmd import endpoint_from_args

_AGO = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")
_AGO_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def moment(text: str) -> float:
    """argparse type: RFC 3339 (``2026-12-03T14:00:00Z``) or an age
    (``30m``, ``2h``, ``1d`` ago); epoch seconds."""
    from deployconsole.core.logentry import EntryError, parse_rfc3339

    match = _AGO.match(text)
    if match is not None:
        return time.time() - float(match.group(1)) * _AGO_UNITS[match.group(2)]
    try:
        return parse_rfc3339(text.strip())
    except EntryError:
        raise argparse.ArgumentTypeError(
            f"expected a time such as 2026-12-03T14:00:00Z or an age such as "
            f"30m, 2h or 1d, got {text!r}"
        ) from None


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "report",
        parents=[common],
        help="draft an incident report (Markdown, DERP form) for a service",
        description="Draft an incident report for SERVICE from its deploys, "
        "traffic changes, errors and guarded rollouts since TIME: timeline, "
        "impact and top tracebacks, with prompts for what only people know.",
        epilog="exit codes: 0 drafted; 1 failed; 2 usage error; 3 App Engine or "
        "Cloud Logging unreachable or permission missing",
    )
    parser.add_argument("service", metavar="SERVICE")
    parser.add_argument("--since", type=moment, required=True, metavar="TIME",
                        help="start of the window: RFC 3339, or an age like 2h")
    parser.add_argument("--until", type=moment, metavar="TIME",
                        help="end of the window (default: now)")
    parser.add_argument("--output", "-o", metavar="FILE",
                        help="write the Markdown here instead of printing it")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from deployconsole.core.journal import Journal
    from deployconsole.core.operations import AdminError
    from deployconsole.core.report import draft_report
    from deployconsole.core.rollout_store import RolloutStore
    from deployconsole.gcp.report_wiring import gather_incident

    until = args.until if args.until is not None else time.time()
    if args.since >= until:
        raise UsageError("--since must be before --until (or now)")
    endpoint = endpoint_from_args(args)
    journal = Journal()
    try:
        incident = gather_incident(
            endpoint, args.service, args.since, until,
            journal=journal, store=RolloutStore(journal.path),
        )
    except AdminError as error:
        return admin_exit(error)
    except (sqlite3.Error, OSError) as error:
        print(f"deployconsole: cannot read the journal: {error}", file=sys.stderr)
        return EXIT_FAILED
    text = draft_report(incident)
    if args.output is None:
        sys.stdout.write(text)
        return EXIT_OK
    try:
        Path(args.output).write_text(text, encoding="utf-8")
    except OSError as error:
        print(f"deployconsole: cannot write {args.output}: {error}", file=sys.stderr)
        return EXIT_FAILED
    print(f"Draft written to {args.output}.", file=sys.stderr)
    return EXIT_OK
