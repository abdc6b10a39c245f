"""``deployconsole history SERVICE``: who changed the traffic, when, to what.

Changes made by this console (from its journal, including the ones that
sent nothing) and by anyone else (from the Cloud Audit Log), in one list,
oldest first.
"""

from __future__ import annotations

import argparse
import json
from datetime import timezone
from typing import TYPE_CHECKING, Any

from deployconsole.cli.common import EXIT_OK
from deployconsole.cli.versions_cmd import EXIT_CODES_HELP, guarded, session

if TYPE_CHECKING:
    from deployconsole.core.history import TrafficChange


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "history",
        parents=[common],
        help="show a service's traffic changes, from the journal and audit log",
        description="List who changed the service's traffic split, when, from "
        "what to what, and how it ended, from this console's journal and the "
        "Cloud Audit Log.",
        epilog=EXIT_CODES_HELP,
    )
    parser.add_argument("service", metavar="SERVICE")
    parser.add_argument(
        "--json", action="store_true", help="print JSON instead of lines"
    )
    parser.set_defaults(func=run)


def describe(change: TrafficChange) -> str:
    when = change.time.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    before = change.before.describe() if change.before is not None else "?"
    line = (
        f"{when}  {change.who}  {change.action}  {before} → "
        f"{change.after.describe()}  {change.outcome}"
    )
    if change.migrate:
        line += " (migration)"
    line += f"  [{change.source.value}]"
    if change.error:
        line += f"\n    {change.error}"
    return line


def run(args: argparse.Namespace) -> int:
    def body() -> int:
        with session(args) as s:
            s.admin.get_service(args.service)  # a clear error for a wrong name
            changes = s.controller.history(args.service, include_unsent=True)
            project = s.controller.project
        if args.json:
            document = {
                "project": project,
                "service": args.service,
                "changes": [change.to_json() for change in changes],
            }
            print(json.dumps(document, indent=2))
            return EXIT_OK
        if not changes:
            print(f"No traffic change of {args.service} is recorded.")
        for change in changes:
            print(describe(change))
        return EXIT_OK

    return guarded(body)
