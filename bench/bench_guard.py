"""Time from a candidate's first failing request to traffic restored.

The emulator's ``staged`` scenario at its default traffic (20 requests/s
across the project, 1 s per admin operation) and a guard with the default
settings (steps 1/10/50/100 %, 60 s holds, 2% / 2x / 50 requests, one new
error group), smoke check skipped so that the broken ``v3-broken`` gets its
first step of traffic. Each run measures, from the logs and the guard's
events:

- from the first failing request's start (its request log's timestamp),
- from its failed response (start + latency),

to the moment the guard had read back the restored split. The goal is 15 s
at most. Runs use different scenario seeds.

Run: .venv/bin/python bench/bench_guard.py [RUNS]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

from deployconsole.core.journal import Journal
from deployconsole.core.rollout_model import EventKind, GuardEvent, GuardSettings
from deployconsole.emulator.scenario import ScenarioOptions
from deployconsole.emulator.server import Emulator, EmulatorOptions
from deployconsole.emulator.state import DEFAULT_PROJECT, EmulatorConfig
from deployconsole.gcp.channel import Endpoint
from deployconsole.gcp.guard_wiring import open_guard_session

CANDIDATE = "v3-broken"
RATE = 20.0
OPERATION_DELAY = 1.0


def one_run(seed: int, folder: Path) -> tuple[float, float, float]:
    """(from first failing request start, from its response, step→restored)."""
    emulator = Emulator(
        EmulatorOptions(
            config=EmulatorConfig(operation_delay=OPERATION_DELAY),
            scenario=ScenarioOptions(name="staged", rate=RATE, seed=seed),
        )
    ).start()
    session = open_guard_session(
        Endpoint(DEFAULT_PROJECT, emulator.address), "default",
        journal=Journal(folder / f"journal-{seed}.sqlite3"),
    )
    try:
        problem = session.feed.wait_ready(30)
        if problem is not None:
            raise RuntimeError(f"the log feed did not start: {problem}")
        marks: dict[str, float] = {}

        def mark(event: GuardEvent) -> None:
            if event.kind is EventKind.STEP and event.split is not None:
                marks.setdefault("step", event.at)
            if event.kind is EventKind.TRAFFIC:
                marks["restored"] = event.at

        guard = session.guard("default", CANDIDATE, GuardSettings(smoke=None))
        guard.subscribe(mark)
        guard.prepare()
        guard.start()
        result = guard.wait(600)
        if result is None or "restored" not in marks:
            raise RuntimeError(f"the guard did not roll back: {guard.state}")
        failures = [
            record for record in session.feed.records()
            if record.version == CANDIDATE and (record.status or 0) >= 500
            and record.timestamp is not None
        ]
        first = min(failures, key=lambda record: record.timestamp or 0.0)
        assert first.timestamp is not None
        response = first.timestamp + (first.latency or 0.0)
        restored = marks["restored"]
        return restored - first.timestamp, restored - response, (
            restored - marks["step"]
        )
    finally:
        session.close()
        emulator.stop()


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    settings = GuardSettings(smoke=None)
    print(f"setting_steps: {','.join(f'{s:g}' for s in settings.steps)} percent")
    print(f"setting_hold: {settings.hold_seconds:g} s")
    print(f"setting_window: {settings.window:g} s")
    print(f"setting_max_error_ratio: {settings.max_error_ratio:g} ratio")
    print(f"setting_factor: {settings.factor:g} x")
    print(f"setting_min_requests: {settings.min_requests} requests")
    print(f"setting_new_group_count: {settings.new_group_count} occurrences")
    print(f"setting_poll: {settings.poll_seconds:g} s")
    print(f"scenario_rate: {RATE:g} requests/s")
    print(f"scenario_operation_delay: {OPERATION_DELAY:g} s")
    print(f"runs: {runs} runs")

    from_start, from_response, from_step = [], [], []
    with tempfile.TemporaryDirectory() as folder:
        for seed in range(runs):
            began = time.monotonic()
            a, b, c = one_run(seed, Path(folder))
            from_start.append(a)
            from_response.append(b)
            from_step.append(c)
            print(
                f"run_{seed}_first_failing_request_to_restored: {a:.2f} s "
                f"(response {b:.2f} s, step {c:.2f} s, run "
                f"{time.monotonic() - began:.0f} s)",
                flush=True,
            )
    for name, values in (
        ("first_failing_request_to_restored", from_start),
        ("first_failed_response_to_restored", from_response),
        ("step_start_to_restored", from_step),
    ):
        print(f"{name}_median: {statistics.median(values):.2f} s")
        print(f"{name}_max: {max(values):.2f} s")


if __name__ == "__main__":
    main()
