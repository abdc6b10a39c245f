"""``deployconsole versions``: every service, its split and its versions.

Also home of what the traffic commands (set-traffic, rollback, history)
share: choosing the project and endpoint from the global options, opening a
session on App Engine, and turning failures into one line on stderr and an
exit code (1 refused or failed, 3 unreachable or permission missing).
"""

from __future__ import annotations

import argparse
import json
import logging
import sqlite3
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from deployconsole.cli.common import (
    DEFAULT_PROJECT,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_UNREACHABLE,
    UsageError,
    signed_in_endpoint,
)

log = logging.getLogger("deployconsole.cli")

EXIT_CODES_HELP = (
    "exit codes: 0 done; 1 refused, failed or not confirmed; 2 usage error; "
    "3 App Engine unreachable or permission missing (nothing changed)"
)

if TYPE_CHECKING:  # the heavy imports happen inside run()
    from deployconsole.core.appmodel import ServiceInfo, VersionInfo
    from deployconsole.core.operations import AdminError, OperationRunner
    from deployconsole.core.traffic import TrafficController
    from deployconsole.gcp.admin import AdminClient
    from deployconsole.gcp.channel import Endpoint


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "versions",
        parents=[common],
        help="list services, their traffic split and their versions",
        description="List every service of the project (or one), where its "
        "traffic goes, and its versions.",
        epilog=EXIT_CODES_HELP,
    )
    parser.add_argument("--service", metavar="S", help="only this service")
    parser.add_argument(
        "--json", action="store_true", help="print JSON instead of a table"
    )
    parser.set_defaults(func=run)


def endpoint_from_args(args: argparse.Namespace) -> Endpoint:
    """The project and endpoint the global options name, signed in.

    ``--project`` defaults to the emulator's demo project when ``--emulator``
    is given; against Google it is required. The sign-in is
    ``--access-token-file`` or the one remembered for the project.

    Raises:
        SignInRequired: an AdminError saying how to sign in.
    """

    emulator = getattr(args, "emulator", None)
    project = getattr(args, "project", None)
    if not project:
        if emulator is None:
            raise UsageError(
                "--project is required (or --emulator HOST:PORT for the demo "
                "project)"
            )
        project = DEFAULT_PROJECT
    endpoint: Endpoint = signed_in_endpoint(args, project, emulator)
    return endpoint


def error_exit(error: AdminError) -> int:
    """Print the error's message; 3 when nothing could be sent, else 1."""
    from deployconsole.core.operations import ErrorKind

    print(f"deployconsole: {error.message}", file=sys.stderr)
    unreachable = error.kind in (ErrorKind.UNREACHABLE, ErrorKind.PERMISSION)
    return EXIT_UNREACHABLE if unreachable and not error.sent else EXIT_FAILED


@dataclass
class Session:
    """What a traffic command works with; closed by :func:`session`."""

    admin: AdminClient
    runner: OperationRunner
    controller: TrafficController


@contextmanager
def session(args: argparse.Namespace, *, with_audit: bool = True) -> Iterator[Session]:
    """Clients, runner, journal and controller for the global options."""
    from deployconsole.core.journal import Journal, local_identity
    from deployconsole.core.operations import OperationRunner
    from deployconsole.core.traffic import TrafficController
    from deployconsole.gcp.admin import AdminClient, translate
    from deployconsole.gcp.audit import AuditReader

    endpoint = endpoint_from_args(args)
    closers: list[Callable[[], None]] = []
    try:
        try:
            admin = AdminClient(endpoint)
            closers.append(admin.close)
            audit = AuditReader(endpoint) if with_audit else None
            if audit is not None:
                closers.append(audit.close)
        except Exception as error:  # e.g. no Google credentials
            what = f"connecting to project {endpoint.project}"
            raise translate(error, what) from error
        runner = OperationRunner()
        closers.append(lambda: runner.shutdown(timeout=5))
        controller = TrafficController(
            admin, runner, journal=Journal(), identity=local_identity(), audit=audit
        )
        yield Session(admin, runner, controller)
    finally:
        for close in reversed(closers):
            close()


def guarded(body: Callable[[], int]) -> int:
    """Run a command body; failures become one stderr line and an exit code."""
    from deployconsole.core.operations import AdminError

    try:
        return body()
    except AdminError as error:
        return error_exit(error)
    except (sqlite3.Error, OSError) as error:
        print(f"deployconsole: cannot use the journal: {error}", file=sys.stderr)
        return EXIT_FAILED
    except RuntimeError as error:
        print(f"deployconsole: {error}", file=sys.stderr)
        return EXIT_FAILED


def rfc3339(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def version_json(version: VersionInfo) -> dict[str, object]:
    return {
        "id": version.id,
        "serving_status": version.serving_status.value,
        "runtime": version.runtime,
        "env": version.env,
        "instances": version.instances,
        "create_time": rfc3339(version.create_time),
        "created_by": version.created_by,
        "version_url": version.version_url,
    }


_EPOCH = datetime.fromtimestamp(0, tz=timezone.utc)


def _table(service: ServiceInfo, versions: list[VersionInfo]) -> list[str]:
    """The service's split, then its versions newest first."""
    from deployconsole.core.split import format_fraction

    rows = [("VERSION", "TRAFFIC", "STATUS", "RUNTIME", "ENV", "SCALING",
             "INSTANCES", "CREATED", "BY")]
    newest_first = sorted(
        versions, key=lambda v: v.create_time or _EPOCH, reverse=True
    )
    for v in newest_first:
        share = service.split.allocation(v.id)
        created = v.create_time.strftime("%Y-%m-%d %H:%M") if v.create_time else "?"
        instances = "?" if v.instances is None else str(v.instances)
        rows.append((
            v.id, format_fraction(share) if share else "-", v.serving_status.value,
            v.runtime, v.env, v.scaling.value, instances, created, v.created_by,
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [f"{service.id}: {service.split.describe()}"]
    for row in rows:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        lines.append(("  " + "  ".join(cells)).rstrip())
    return lines


def run(args: argparse.Namespace) -> int:
    def body() -> int:
        with session(args, with_audit=False) as s:
            if args.service:
                services = [s.admin.get_service(args.service)]
            else:
                services = s.admin.list_services()
            listed = [(svc, s.admin.list_versions(svc.id)) for svc in services]
        if args.json:
            document = {
                "services": [
                    {
                        "id": service.id,
                        "split": service.split.to_json(),
                        "versions": [version_json(v) for v in versions],
                    }
                    for service, versions in listed
                ]
            }
            print(json.dumps(document, indent=2))
            return EXIT_OK
        for number, (service, versions) in enumerate(listed):
            if number:
                print()
            print("\n".join(_table(service, versions)))
        return EXIT_OK

    return guarded(body)
