"""``deployconsole set-traffic SERVICE VERSION=ALLOC...``: change a split.

Also the confirm-and-apply flow that ``rollback`` shares: show before →
after, ask (unless ``--yes``), apply as one operation, print what the server
has afterwards.

Confirmation: the question is read from standard input only when it is a
terminal. Without one (a script, a pipe, CI) the answer counts as "no": the
command changes nothing and exits 1, saying to pass ``--yes``. If the split
changes while the question is open, nothing is sent: the difference is shown
and the question asked again (with ``--yes``, the command exits 1 instead).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

from deployconsole.cli.common import EXIT_FAILED, EXIT_OK, EXIT_UNREACHABLE, UsageError
from deployconsole.cli.versions_cmd import EXIT_CODES_HELP, guarded, session

if TYPE_CHECKING:
    from deployconsole.core.operations import Outcome
    from deployconsole.core.traffic import TrafficController, TrafficPlan

# How often the question is asked again when the split keeps changing.
MAX_ROUNDS = 3


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "set-traffic",
        parents=[common],
        help="change a service's traffic split",
        description="Send a service's traffic to versions in the given "
        "proportions (normalised and rounded as gcloud does). Shows the split "
        "before and after and asks first, unless --yes; without a terminal "
        "to ask on, nothing is changed.",
        epilog=EXIT_CODES_HELP,
    )
    parser.add_argument("service", metavar="SERVICE")
    parser.add_argument(
        "allocations",
        metavar="VERSION=ALLOC",
        nargs="+",
        help="a version and its share, e.g. v2=0.1 or v2=10 (weights are "
        "normalised to sum to 1)",
    )
    parser.add_argument(
        "--shard-by",
        choices=("ip", "cookie", "random"),
        help="how requests are assigned (default: the service's current one)",
    )
    parser.add_argument(
        "--migrate",
        action="store_true",
        help="move traffic gradually (one version, warmup, automatic scaling, "
        "standard environment)",
    )
    add_yes_option(parser)
    parser.set_defaults(func=run)


def add_yes_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--yes",
        "-y",
        action="store_true",
        help="apply without asking (needed when standard input is not a terminal)",
    )


def parse_allocations(items: list[str]) -> dict[str, float]:
    """``["v1=0.9", "v2=10%"]`` into weights; UsageError in plain words."""
    allocations: dict[str, float] = {}
    for item in items:
        version, sep, value = item.partition("=")
        version = version.strip()
        if not sep or not version:
            raise UsageError(f"expected VERSION=ALLOC, got {item!r}")
        try:
            weight = float(value.strip().removesuffix("%"))
        except ValueError:
            raise UsageError(
                f"the allocation for {version} is not a number: {value!r}"
            ) from None
        if not math.isfinite(weight):
            raise UsageError(f"the allocation for {version} must be a finite number")
        if version in allocations:
            raise UsageError(f"version {version} is given twice")
        allocations[version] = weight
    return allocations


def ask(question: str, stdin: TextIO, stderr: TextIO) -> bool:
    """Ask on a terminal; a missing terminal or an empty answer means no."""
    if not stdin.isatty():
        print(
            "deployconsole: not applied: standard input is not a terminal, so "
            "the change cannot be confirmed; run again with --yes to apply it "
            "without asking.",
            file=stderr,
        )
        return False
    print(f"{question} [y/N] ", end="", file=stderr, flush=True)
    answer = stdin.readline()
    if answer.strip().lower() in ("y", "yes"):
        return True
    print("Not applied; nothing changed.", file=stderr)
    return False


def outcome_exit(outcome: Outcome) -> int:
    from deployconsole.core.operations import OutcomeStatus

    if outcome.succeeded:
        print(outcome.message)
        if outcome.operation_name:
            print(f"Operation: {outcome.operation_name}")
        return EXIT_OK
    print(f"deployconsole: {outcome.message}", file=sys.stderr)
    if outcome.status in (OutcomeStatus.UNREACHABLE, OutcomeStatus.PERMISSION):
        return EXIT_UNREACHABLE
    return EXIT_FAILED


def confirm_and_apply(
    controller: TrafficController,
    make_plan: Callable[[], TrafficPlan],
    *,
    assume_yes: bool,
    stdin: TextIO | None = None,
) -> int:
    """Plan, show before → after, confirm, apply, report; the exit code.

    ``make_plan`` reads the live split; it is called again when the split
    changed while the user was looking at it.
    """
    from deployconsole.core.operations import OutcomeStatus

    stdin = stdin if stdin is not None else sys.stdin
    for _ in range(MAX_ROUNDS):
        plan = make_plan()
        if plan.refused:
            print(
                f"deployconsole: not applied: {' '.join(plan.problems)}",
                file=sys.stderr,
            )
            return EXIT_FAILED
        if plan.unchanged:
            print(f"{plan.service_id} already serves {plan.before.describe()}; "
                  "nothing to change.")
            return EXIT_OK
        print("\n".join(plan.confirmation_lines()))
        if not assume_yes and not ask("Apply this change?", stdin, sys.stderr):
            return EXIT_FAILED

        operation = controller.apply(
            plan,
            on_progress=lambda op, step: print(
                step.message, file=sys.stderr, flush=True
            ),
        )
        outcome = operation.wait()
        assert outcome is not None  # wait() without a timeout returns one
        if outcome.status is not OutcomeStatus.CHANGED or assume_yes:
            return outcome_exit(outcome)
        print(f"deployconsole: {outcome.message}", file=sys.stderr)
    print(
        f"deployconsole: the split kept changing while being confirmed "
        f"({MAX_ROUNDS} times); nothing was sent.",
        file=sys.stderr,
    )
    return EXIT_FAILED


def run(args: argparse.Namespace) -> int:
    from deployconsole.core.split import ShardBy

    requested = parse_allocations(args.allocations)
    shard_by = ShardBy.parse(args.shard_by) if args.shard_by else None

    def body() -> int:
        with session(args, with_audit=False) as s:
            return confirm_and_apply(
                s.controller,
                lambda: s.controller.plan(
                    args.service, requested, shard_by=shard_by, migrate=args.migrate
                ),
                assume_yes=args.yes,
            )

    return guarded(body)
