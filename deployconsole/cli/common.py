"""Options and exit codes shared by every subcommand."""

from __future__ import annotations

import argparse
import re
from typing import Any

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3

DEFAULT_PROJECT = "deployconsole-demo"


class UsageError(Exception):
    """A command line that cannot be acted on; exit code 2."""


_ENDPOINT = re.compile(r"^[A-Za-z0-9.\-\[\]:]+:\d{1,5}$")


def endpoint(text: str) -> str:
    """argparse type for HOST:PORT."""
    if not _ENDPOINT.match(text):
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return text


def signed_in_endpoint(
    args: argparse.Namespace, project: str, emulator: str | None
) -> Any:
    """The Endpoint for ``project``, signed in as --access-token-file or the
    remembered project says (else ADC for Google, nothing for an emulator).

    Raises:
        SignInRequired: an AdminError saying how to sign in.
    """
    from deployconsole.core.projects import ProjectRegistry
    from deployconsole.core.settings import Settings
    from deployconsole.gcp.auth import endpoint_for

    return endpoint_for(
        project,
        emulator,
        access_token_file=getattr(args, "access_token_file", None),
        registry=ProjectRegistry(Settings()),
    )


def add_global_options(
    parser: argparse.ArgumentParser, *, suppress_defaults: bool
) -> None:
    """Add --project, --emulator, --access-token-file and --verbose.

    With ``suppress_defaults`` the options leave no attribute when absent, so
    that a value parsed before the subcommand survives the subparser.
    """

    def default(value: object) -> object:
        return argparse.SUPPRESS if suppress_defaults else value

    parser.add_argument(
        "--project",
        metavar="ID",
        default=default(None),
        help="Google Cloud project id",
    )
    parser.add_argument(
        "--emulator",
        metavar="HOST:PORT",
        type=endpoint,
        default=default(None),
        help="talk to a deployconsole emulator instead of Google "
        "(insecure channel, anonymous credentials)",
    )
    parser.add_argument(
        "--access-token-file",
        metavar="PATH",
        default=default(None),
        help="use the access token in PATH (as gcloud's --access-token-file), "
        "read again when the service refuses it",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=default(False),
        help="log debug messages to stderr",
    )
