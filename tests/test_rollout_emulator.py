"""Guarded rollouts on the emulator's ``staged`` scenario, end to end.

``default`` serves ``v1``; ``v2-ok`` is healthy and ``v3-broken`` fails at
import. The guard works through the official clients, really requests the
version URLs and really watches the tailed logs; only the holds are short
and the traffic heavy, so that each test takes seconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from deployconsole.core.journal import Journal
from deployconsole.core.rollout import RolloutGuard
from deployconsole.core.rollout_model import (
    EventKind,
    GuardEvent,
    GuardResult,
    GuardSettings,
    GuardState,
)
from deployconsole.core.smoke import SmokePlan
from deployconsole.emulator.scenario import ScenarioOptions
from deployconsole.emulator.server import Emulator, EmulatorOptions
from deployconsole.emulator.state import DEFAULT_PROJECT, EmulatorConfig
from deployconsole.gcp.channel import Endpoint
from deployconsole.gcp.guard_wiring import GuardSession, open_guard_session

SERVICE = "default"
# Seconds a test waits for a guard to finish before it counts as stuck.
DEADLINE = 60.0
SMOKE = SmokePlan(retries=0, settle=1.0, log_wait=10.0)


@dataclass
class Staged:
    emulator: Emulator
    journal: Journal
    sessions: list[GuardSession]

    def session(self) -> GuardSession:
        endpoint = Endpoint(DEFAULT_PROJECT, self.emulator.address)
        session = open_guard_session(
            endpoint, SERVICE, journal=self.journal, retry_deadline=0.5
        )
        self.sessions.append(session)
        assert session.feed.wait_ready(10) is None
        return session

    def split(self) -> dict[str, float]:
        return self.emulator.state.split_of(SERVICE)

    def run(self, guard: RolloutGuard) -> GuardResult:
        guard.prepare()
        guard.start()
        result = guard.wait(DEADLINE)
        assert result is not None, f"guard still {guard.state} after {DEADLINE} s"
        return result


@pytest.fixture()
def staged(tmp_path: Path) -> Iterator[Staged]:
    emulator = Emulator(
        EmulatorOptions(
            config=EmulatorConfig(operation_delay=0.05),
            scenario=ScenarioOptions(name="staged", rate=100),
        )
    ).start()
    staged = Staged(emulator, Journal(tmp_path / "journal.sqlite3"), [])
    try:
        yield staged
    finally:
        for session in staged.sessions:
            session.close()
        emulator.stop()


def test_broken_version_fails_at_smoke_and_moves_no_traffic(staged: Staged) -> None:
    session = staged.session()
    guard = session.guard(SERVICE, "v3-broken", GuardSettings(smoke=SMOKE))
    result = staged.run(guard)
    assert result.state is GuardState.REJECTED
    assert not result.traffic_moved
    assert staged.split() == {"v1": 1.0}
    assert staged.journal.rows() == []
    assert "DistributionNotFound" in result.tracebacks[0]
    record = session.store.get(guard.record.id)  # type: ignore[union-attr]
    assert record is not None and record.state is GuardState.REJECTED


def test_broken_version_without_smoke_fails_at_the_first_step(
    staged: Staged,
) -> None:
    session = staged.session()
    # A long hold: the step must fail on the errors, not pass for want of time.
    settings = GuardSettings(hold_seconds=30, smoke=None)
    result = staged.run(session.guard(SERVICE, "v3-broken", settings))
    assert result.state is GuardState.ROLLED_BACK, result.reason
    assert result.reason.startswith("Step 1 (1%) failed")
    assert staged.split() == {"v1": 1.0}
    assert "pkg_resources.DistributionNotFound" in result.tracebacks[0]
    rows = staged.journal.rows(service=SERVICE)
    assert [(r.action, r.outcome) for r in rows] == [
        ("guard-step", "succeeded"), ("guard-rollback", "succeeded"),
    ]
    assert rows[0].split_after is not None
    assert rows[0].split_after.as_dict() == {"v1": 0.99, "v3-broken": 0.01}


def test_healthy_version_reaches_all_the_traffic(staged: Staged) -> None:
    session = staged.session()
    events: list[GuardEvent] = []
    guard = session.guard(
        SERVICE, "v2-ok", GuardSettings(hold_seconds=2, smoke=SMOKE)
    )
    guard.subscribe(events.append)
    result = staged.run(guard)
    assert result.state is GuardState.PROMOTED, result.reason
    assert staged.split() == {"v2-ok": 1.0}
    assert result.steps_passed == 4
    checks = [e.check for e in events if e.kind is EventKind.CHECK]
    assert [c.name for c in checks if c] == ["warmup", "GET /", "logs"]
    # The figures were really compared: both sides had traffic in them.
    figures = [e.comparison for e in events if e.comparison is not None]
    assert any(c.baseline.requests > 0 for c in figures)
    assert any(c.candidate.requests > 0 for c in figures)


def test_crash_mid_rollout_is_recovered(staged: Staged) -> None:
    session = staged.session()
    settings = GuardSettings(steps=(10.0, 100.0), hold_seconds=1, smoke=None)
    guard = session.guard(SERVICE, "v2-ok", settings)
    guard.prepare()
    while guard.state is not GuardState.HOLDING:
        guard.tick()
    assert staged.split() == {"v1": 0.9, "v2-ok": 0.1}
    # The console dies: no cleanup of the guard, its session goes with it.
    del guard
    session.close()

    session = staged.session()
    [record] = session.store.unfinished(DEFAULT_PROJECT, SERVICE)
    assert record.candidate == "v2-ok" and record.step == 0
    guard = session.guard(SERVICE, "v2-ok", settings)
    guard.adopt(record, "resume", force=True)
    guard.start()
    result = guard.wait(DEADLINE)
    assert result is not None and result.state is GuardState.PROMOTED
    assert staged.split() == {"v2-ok": 1.0}
    assert session.store.unfinished() == []


def test_unavailable_during_a_step_ends_in_the_split_from_before(
    staged: Staged,
) -> None:
    session = staged.session()
    faults = staged.emulator.faults

    def inject(event: GuardEvent) -> None:
        # App Engine stops answering once step 1 is live, and comes back
        # while the guard rolls back.
        if event.kind is EventKind.STEP and event.split is not None:
            faults.set("unavailable=UpdateService:1000")
        if event.state is GuardState.ROLLING_BACK:
            faults.clear()

    guard = session.guard(
        SERVICE, "v2-ok", GuardSettings(hold_seconds=1, smoke=None)
    )
    guard.subscribe(inject)
    result = staged.run(guard)
    assert result.state is GuardState.ROLLED_BACK
    assert "step 2 failed" in result.reason
    assert "could not be reached" in result.reason
    assert staged.split() == {"v1": 1.0}
    assert result.split_after is not None
    assert result.split_after.as_dict() == {"v1": 1.0}
    # Retries that ran out cannot say whether a call got through, so the
    # journal counts the step as failed, not as never sent.
    outcomes = [(r.action, r.outcome) for r in staged.journal.rows()]
    assert outcomes == [
        ("guard-step", "succeeded"), ("guard-step", "failed"),
        ("guard-rollback", "succeeded"),
    ]


def test_failed_operations_end_in_a_recorded_split_that_can_be_aborted(
    staged: Staged,
) -> None:
    session = staged.session()
    faults = staged.emulator.faults

    def inject(event: GuardEvent) -> None:
        if event.kind is EventKind.STEP and event.split is not None:
            faults.set("operation-error=UpdateService")

    settings = GuardSettings(hold_seconds=1, smoke=None, restore_attempts=2)
    guard = session.guard(SERVICE, "v2-ok", settings)
    guard.subscribe(inject)
    result = staged.run(guard)
    assert result.state is GuardState.BROKEN
    assert staged.split() == {"v1": 0.99, "v2-ok": 0.01}
    assert result.split_after is not None
    assert result.split_after.as_dict() == {"v1": 0.99, "v2-ok": 0.01}
    [record] = session.store.unfinished()
    assert record.state is GuardState.BROKEN
    assert record.split_live == result.split_after

    faults.clear()
    rescue = session.guard(SERVICE, "v2-ok", settings)
    rescue.adopt(record, "abort", force=True)
    rescue.start()
    ended = rescue.wait(DEADLINE)
    assert ended is not None and ended.state is GuardState.ABORTED
    assert staged.split() == {"v1": 1.0}
    assert session.store.unfinished() == []
