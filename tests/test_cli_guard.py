"""``deployconsole guard`` against the emulator's ``staged`` scenario.

The commands run through ``deployconsole.cli.main`` as a CD pipeline would
run them, with short holds, fast operations and heavy traffic so that each
takes seconds; the guard still really requests the versions and watches
their logs. Exit codes: 0 promoted, 1 rolled back, 2 usage, 3 unreachable.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator

import pytest

from deployconsole.cli import main
from deployconsole.core.journal import Journal
from deployconsole.core.rollout_model import GuardSettings, GuardState
from deployconsole.core.rollout_store import RolloutStore
from deployconsole.emulator.scenario import ScenarioOptions
from deployconsole.emulator.server import Emulator, EmulatorOptions
from deployconsole.emulator.state import DEFAULT_PROJECT, EmulatorConfig
from deployconsole.gcp.channel import Endpoint
from deployconsole.gcp.guard_wiring import open_guard_session

FAST_SMOKE = ("--smoke-retries", "0")


@pytest.fixture()
def emulator(isolated_home: str) -> Iterator[Emulator]:
    emulator = Emulator(
        EmulatorOptions(
            config=EmulatorConfig(operation_delay=0.05),
            scenario=ScenarioOptions(name="staged", rate=100),
        )
    ).start()
    yield emulator
    emulator.stop()


def guard(
    emulator: Emulator, capsys: pytest.CaptureFixture[str], *argv: str
) -> tuple[int, str, str]:
    code = main(["guard", *argv, "--emulator", emulator.address])
    out, err = capsys.readouterr()
    assert "Traceback (most recent call last)" not in err.split("Traceback 1")[0]
    return code, out, err


def split(emulator: Emulator) -> dict[str, float]:
    return emulator.state.split_of("default")


def test_broken_version_exits_1_with_traffic_untouched(
    emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = guard(emulator, capsys, "default", "v3-broken", *FAST_SMOKE)
    assert code == 1
    assert split(emulator) == {"v1": 1.0}
    assert "Smoke: warmup answered 500" in out
    assert "Rejected: Smoke check failed" in err
    assert "No traffic was moved." in err
    assert "pkg_resources.DistributionNotFound" in err
    assert Journal().rows() == []


def test_healthy_version_exits_0_at_100_percent_printing_each_step(
    emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = guard(
        emulator, capsys, "default", "v2-ok", "--hold", "1s", *FAST_SMOKE
    )
    assert code == 0, err
    assert split(emulator) == {"v2-ok": 1.0}
    for number, share in enumerate(("1%", "10%", "50%", "100%"), 1):
        assert f"Step {number} of 4: v2-ok gets {share}" in out
        assert f"Step {number} of 4 passed" in out
    assert "Promoted: v2-ok serves all the traffic of default." in out
    actions = [(r.action, r.outcome) for r in Journal().rows()]
    assert actions == [("guard-step", "succeeded")] * 4


def test_json_report_has_the_timeline(
    emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = guard(
        emulator, capsys, "default", "v3-broken", "--no-smoke", "--hold", "30s",
        "--steps", "5,100", "--json",
    )
    assert code == 1
    assert split(emulator) == {"v1": 1.0}
    report = json.loads(out)
    assert report["state"] == "rolled-back" and report["exit_code"] == 1
    assert report["split_before"]["allocations"] == {"v1": 1.0}
    assert report["split_after"]["allocations"] == {"v1": 1.0}
    assert report["settings"]["steps"] == [5.0, 100.0]
    assert "DistributionNotFound" in report["tracebacks"][0]
    kinds = [event["kind"] for event in report["timeline"]]
    assert kinds[0] == "state" and kinds[-1] == "finished"
    assert "step" in kinds and "traffic" in kinds
    # Progress went to stderr, so stdout is the JSON alone.
    assert "Step 1 of 2: v3-broken gets 5%" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--steps", "10,5,100"), "must rise"),
        (("--steps", "10,50"), "must be 100"),
        (("--steps", "0.5,100"), "more than 2 decimals"),
        (("--max-error-ratio", "2"), "error ratio threshold"),
        (("--smoke", "healthz"), "must start with /"),
    ],
)
def test_bad_settings_exit_2(
    emulator: Emulator, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...],
    message: str,
) -> None:
    code, out, err = guard(emulator, capsys, "default", "v2-ok", *argv)
    assert code == 2
    assert message in err
    assert split(emulator) == {"v1": 1.0}


def test_unknown_service_or_version_exits_2(
    emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = guard(emulator, capsys, "default", "v9")
    assert code == 2 and "There is no version v9 in service default." in err
    code, _, err = guard(emulator, capsys, "nosuch", "v1")
    assert code == 2 and "nosuch" in err


def test_a_malformed_duration_is_a_usage_error(
    emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["guard", "default", "v2-ok", "--hold", "soon"])
    assert exit_info.value.code == 2
    assert "expected a duration such as 60s" in capsys.readouterr().err


def test_permission_missing_exits_3_with_nothing_changed(
    emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator.faults.set("permission-denied=GetService")
    code, _, err = guard(emulator, capsys, "default", "v2-ok")
    assert code == 3
    assert "Permission denied" in err
    emulator.faults.clear()

    emulator.faults.set("permission-denied=TailLogEntries")
    code, _, err = guard(emulator, capsys, "default", "v2-ok")
    assert code == 3
    assert "cannot watch the logs of default" in err
    assert split(emulator) == {"v1": 1.0}
    assert RolloutStore(Journal().path).unfinished() == []


def test_an_unfinished_rollout_is_offered_and_can_be_aborted(
    emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    session = open_guard_session(
        Endpoint(DEFAULT_PROJECT, emulator.address), "default"
    )
    try:
        assert session.feed.wait_ready(10) is None
        dead = session.guard(
            "default", "v2-ok", GuardSettings(steps=(10, 100), smoke=None)
        )
        dead.prepare()
        while dead.state is not GuardState.HOLDING:
            dead.tick()
    finally:
        session.close()
    assert split(emulator) == {"v1": 0.9, "v2-ok": 0.1}

    code, _, err = guard(emulator, capsys, "default", "v2-ok")
    assert code == 2
    assert "resume or abort it first" in err and "--resume or --abort" in err

    code, _, err = guard(emulator, capsys, "default", "v2-ok", "--abort", "--force")
    assert code == 1
    assert "Aborting the unfinished rollout" in err
    assert split(emulator) == {"v1": 1.0}
    assert RolloutStore(Journal().path).unfinished() == []


def test_sigterm_from_a_cancelled_job_aborts_and_restores(
    emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    def cancel_job_once_step_one_is_live() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if split(emulator).get("v2-ok"):
                os.kill(os.getpid(), signal.SIGTERM)
                return
            time.sleep(0.05)

    canceller = threading.Thread(target=cancel_job_once_step_one_is_live)
    canceller.start()
    code, out, err = guard(emulator, capsys, "default", "v2-ok", "--no-smoke")
    canceller.join()
    assert code == 1
    assert "Interrupted: aborting the rollout" in err
    assert "Aborted: Aborted by the user." in err
    assert split(emulator) == {"v1": 1.0}
    assert RolloutStore(Journal().path).unfinished() == []
