"""The terminal face of deployconsole.

Every subcommand lives in its own module with two functions:
``register(subparsers, common)`` adds its parser (passing ``common`` as a
parent so that the global options work after the subcommand too) and sets
``func`` to a ``run(args) -> int``. Heavy imports (gRPC, Qt) happen inside
``run`` so that ``deployconsole errors`` starts fast.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from deployconsole import __version__
from deployconsole.cli import (
    emulator_cmd,
    errors_cmd,
    guard_cmd,
    gui_cmd,
    history_cmd,
    report_cmd,
    rollback_cmd,
    set_traffic_cmd,
    tail_cmd,
    versions_cmd,
)
from deployconsole.cli.common import (
    EXIT_FAILED,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    UsageError,
    add_global_options,
)
from deployconsole.core.operations import AdminError, ErrorKind

_COMMAND_MODULES = [
    emulator_cmd,
    errors_cmd,
    versions_cmd,
    set_traffic_cmd,
    rollback_cmd,
    history_cmd,
    tail_cmd,
    guard_cmd,
    report_cmd,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="deployconsole",
        description="A deploy console for Google App Engine.",
    )
    parser.add_argument("--version", action="version", version=__version__)
    add_global_options(parser, suppress_defaults=False)
    gui_cmd.add_gui_options(parser)

    # Subparsers take the same options with SUPPRESS defaults, so a value
    # given before the subcommand is not overwritten by the subparser's
    # default and one given after it wins.
    common = argparse.ArgumentParser(add_help=False)
    add_global_options(common, suppress_defaults=True)

    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _COMMAND_MODULES:
        module.register(subparsers, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s: %(message)s",
    )
    func = getattr(args, "func", None)
    try:
        if func is None:
            return gui_cmd.run(args)
        return int(func(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except UsageError as exc:
        print(f"deployconsole: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except AdminError as exc:
        # A command that did not catch it (e.g. a sign-in needed before any
        # call): nothing was sent, say why in one line.
        print(f"deployconsole: {exc.message}", file=sys.stderr)
        if exc.kind in (ErrorKind.UNREACHABLE, ErrorKind.PERMISSION):
            return EXIT_UNREACHABLE
        return EXIT_FAILED
