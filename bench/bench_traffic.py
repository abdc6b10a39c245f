"""Confirm → split applied and read back, the console's own cost.

The emulator's operation delay is 0, so the figure is what the console adds:
re-reading the split, sending it, polling the operation, reading it back and
writing the journal row, through the official clients over loopback gRPC.
Goal: median and p95 under 0.3 s.

Run: .venv/bin/python bench/bench_traffic.py [--changes 50]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from google.cloud.appengine_admin_v1 import types as ae

from deployconsole.core.journal import Journal
from deployconsole.core.operations import OperationRunner
from deployconsole.core.traffic import TrafficController
from deployconsole.emulator import admin_ops
from deployconsole.emulator.server import Emulator, EmulatorOptions
from deployconsole.emulator.state import EmulatorConfig
from deployconsole.gcp.admin import AdminClient
from deployconsole.gcp.channel import Endpoint

SERVICE = "bench"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
    return ordered[index]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--changes", type=int, default=50)
    args = parser.parse_args()

    config = EmulatorConfig(operation_delay=0.0, migration_delay=0.0)
    emulator = Emulator(EmulatorOptions(run_traffic=False, config=config)).start()
    for version_id in ("v1", "v2"):
        admin_ops.create_version(
            emulator.state, SERVICE,
            ae.Version(id=version_id, runtime="python311", env="standard",
                       automatic_scaling=ae.AutomaticScaling()),
        )
    admin = AdminClient(Endpoint(config.project_id, emulator=emulator.address))
    runner = OperationRunner()
    with tempfile.TemporaryDirectory() as tmp:
        controller = TrafficController(
            admin, runner, journal=Journal(Path(tmp) / "journal.sqlite3"),
            identity="bench@localhost",
        )
        durations: list[float] = []
        # One warm-up change: channel connection and first-call setup.
        for number in range(args.changes + 1):
            share = 0.1 + 0.8 * ((number % 2) == 0)
            plan = controller.plan(SERVICE, {"v1": share, "v2": 1 - share})
            started = time.perf_counter()
            outcome = controller.apply(plan).wait(30)
            elapsed = time.perf_counter() - started
            if outcome is None or not outcome.succeeded:
                raise SystemExit(f"change {number} did not succeed: {outcome}")
            if number:
                durations.append(elapsed)
    runner.shutdown(timeout=10)
    admin.close()
    emulator.stop()

    print(f"traffic_changes: {len(durations)} changes")
    print(f"traffic_confirm_to_readback_median: {statistics.median(durations):.4f} s")
    print(f"traffic_confirm_to_readback_p95: {percentile(durations, 0.95):.4f} s")
    print(f"traffic_confirm_to_readback_max: {max(durations):.4f} s")


if __name__ == "__main__":
    main()
