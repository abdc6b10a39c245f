"""``deployconsole rollback SERVICE``: restore the split before the latest change.

The latest change is found in the journal and the Cloud Audit Log together,
so a bad ``gcloud app deploy`` is rolled back as well as a change made here.
Confirmation works as for set-traffic (see set_traffic_cmd).
"""

from __future__ import annotations

import argparse
from typing import Any

from deployconsole.cli.set_traffic_cmd import add_yes_option, confirm_and_apply
from deployconsole.cli.versions_cmd import EXIT_CODES_HELP, guarded, session


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "rollback",
        parents=[common],
        help="restore the split that was live before a service's latest change",
        description="Find the service's latest traffic change (from this "
        "console's journal and the audit log, whoever made it) and restore the "
        "split that was live before it. Shows before → after and asks first, "
        "unless --yes.",
        epilog=EXIT_CODES_HELP,
    )
    parser.add_argument("service", metavar="SERVICE")
    add_yes_option(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    def body() -> int:
        with session(args) as s:
            return confirm_and_apply(
                s.controller,
                lambda: s.controller.plan_rollback(args.service),
                assume_yes=args.yes,
            )

    return guarded(body)
