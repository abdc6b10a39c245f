"""``deployconsole emulator``: run the App Engine + Cloud Logging emulator."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any

from deployconsole.cli.common import EXIT_OK, UsageError


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    from deployconsole.emulator.scenario import SCENARIOS

    parser = subparsers.add_parser(
        "emulator",
        parents=[common],
        help="run the App Engine + Cloud Logging emulator in the foreground",
        description="Serve App Engine Admin v1 and Cloud Logging v2 on loopback, "
        "with a scenario that makes traffic and logs.",
    )
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--scenario", choices=SCENARIOS, default="bad-push")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--rate",
        type=float,
        default=20.0,
        metavar="REQUESTS_PER_S",
        help="request traffic across the project (default 20/s)",
    )
    parser.add_argument(
        "--bad-push-at",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="bad-push: when the broken version takes all traffic (default 30)",
    )
    parser.add_argument(
        "--operation-delay",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="how long a mutation's operation takes (default 1)",
    )
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="inject a fault (repeatable), e.g. unavailable=UpdateService:2",
    )
    parser.add_argument(
        "--require-auth",
        action="store_true",
        help="require a bearer token: viewer, service-admin or logs-viewer, each "
        "standing for that role",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from deployconsole.emulator.faults import FaultError
    from deployconsole.emulator.scenario import ScenarioOptions
    from deployconsole.emulator.server import Emulator, EmulatorOptions
    from deployconsole.emulator.state import DEFAULT_PROJECT, EmulatorConfig

    if args.rate < 0 or args.operation_delay < 0:
        raise UsageError("--rate and --operation-delay must not be negative")
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be between 0 and 65535, not {args.port}")
    project = args.project or DEFAULT_PROJECT
    options = EmulatorOptions(
        config=EmulatorConfig(
            project_id=project,
            operation_delay=args.operation_delay,
            migration_delay=max(args.operation_delay * 3, args.operation_delay),
        ),
        scenario=ScenarioOptions(
            name=args.scenario,
            seed=args.seed,
            rate=args.rate,
            bad_push_at=args.bad_push_at,
        ),
        faults=args.fault,
        require_auth=args.require_auth,
    )
    try:
        emulator = Emulator(options)
    except FaultError as exc:
        raise UsageError(str(exc)) from exc
    try:
        emulator.start(args.port)
    except (OSError, RuntimeError) as exc:
        print(f"deployconsole: cannot start the emulator: {exc}", file=sys.stderr)
        return 3
    print(f"emulator listening on {emulator.address} project={project}", flush=True)

    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
    return EXIT_OK
