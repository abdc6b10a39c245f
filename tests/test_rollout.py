"""The guard's state machine and rules, driven tick by tick over fakes.

App Engine and the log figures are fakes (see test_rollout_support); the
traffic controller, runner, journal and store are real, so each step's
change is a real operation with a journal row.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_rollout_support import (
    IMPORT_ERROR,
    KEY_ERROR,
    SERVICE,
    Rig,
    make_rig,
)

from deployconsole.core.operations import AdminError, ErrorKind
from deployconsole.core.rollout_model import (
    Comparison,
    EventKind,
    GuardConfigError,
    GuardEvent,
    GuardSettings,
    GuardState,
)
from deployconsole.core.rollout_rules import compare, step_split
from deployconsole.core.split import ShardBy, Split


@pytest.fixture()
def rig(tmp_path: Path) -> Iterator[Rig]:
    rig = make_rig(tmp_path)
    yield rig
    rig.runner.shutdown(timeout=5)


def ip(**allocations: float) -> Split:
    return Split.of(allocations, ShardBy.IP)


# -- the rules ----------------------------------------------------------------


def test_step_split_keeps_the_baseline_proportions_and_sums_to_one() -> None:
    assert step_split(ip(v1=1.0), "v2", 1).as_dict() == {"v1": 0.99, "v2": 0.01}
    split = step_split(ip(v1=0.3, v0=0.7), "v2", 10)
    assert split.as_dict() == {"v0": 0.63, "v1": 0.27, "v2": 0.1}
    thirds = Split.of({"a": 0.334, "b": 0.333, "c": 0.333}, ShardBy.COOKIE)
    split = step_split(thirds, "v2", 50)
    assert split.allocation("v2") == 0.5
    assert round(sum(split.as_dict().values()), 9) == 1.0
    assert step_split(ip(v1=0.9, v2=0.1), "v2", 100).as_dict() == {"v2": 1.0}
    # A candidate with traffic already: the rest comes from the others only.
    assert step_split(ip(v1=0.9, v2=0.1), "v2", 50).as_dict() == {
        "v1": 0.5, "v2": 0.5
    }


def test_step_split_refuses_what_app_engine_would() -> None:
    with pytest.raises(GuardConfigError, match="more than 2 decimals"):
        step_split(ip(v1=1.0), "v2", 0.5)
    assert step_split(Split.of({"v1": 1.0}, ShardBy.COOKIE), "v2", 0.5).allocation(
        "v2"
    ) == 0.005
    with pytest.raises(GuardConfigError, match="no baseline"):
        step_split(ip(v2=1.0), "v2", 10)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"steps": (10.0, 5.0, 100.0)}, "must rise"),
        ({"steps": (1.0, 50.0)}, "must be 100"),
        ({"steps": (0.0, 100.0)}, "not between 0 and 100"),
        ({"steps": ()}, "at least one step"),
        ({"hold_seconds": 0}, "hold must be a positive"),
        ({"max_error_ratio": 1.5}, "error ratio threshold"),
        ({"factor": 0.5}, "factor must be at least 1"),
        ({"min_requests": 0}, "minimum number of requests"),
        ({"new_group_count": 0}, "new error group count"),
    ],
)
def test_settings_refuse_bad_values_in_plain_words(
    settings: dict[str, object], message: str
) -> None:
    with pytest.raises(GuardConfigError, match=message):
        GuardSettings(**settings)  # type: ignore[arg-type]


def test_a_step_fails_only_above_the_threshold_and_the_baseline_times_factor(
    rig: Rig,
) -> None:
    settings = GuardSettings(max_error_ratio=0.02, factor=2, min_requests=50)
    now = rig.clock()

    def verdict(
        candidate: tuple[float, float], baseline: tuple[float, float]
    ) -> Comparison:
        rig.signals.figures = {"v2": candidate, "v1": baseline}
        return compare(
            rig.signals, settings, SERVICE, "v2", ("v1",), now - 60, now
        )

    # 10% against a baseline at 1%: above both.
    assert verdict((100, 10), (1000, 10)).failed
    # 3% is above 2%, but not above twice a baseline at 2%.
    assert not verdict((100, 3), (1000, 20)).failed
    # 1.5% is twice a 0.5% baseline, but under the absolute threshold.
    assert not verdict((200, 3), (1000, 5)).failed
    # Too few requests to judge: not a failure, but said.
    result = verdict((49, 49), (1000, 0))
    assert not result.failed
    assert "fewer than the 50" in result.notes[0]


def test_a_new_error_group_fails_a_step_unless_the_baseline_has_it(rig: Rig) -> None:
    settings = GuardSettings(new_group_count=2)
    now = rig.clock()
    rig.signals.add_error(KEY_ERROR, "v1", now - 100)
    rig.signals.add_error(KEY_ERROR, "v2", now - 5)
    rig.signals.add_error(KEY_ERROR, "v2", now - 4)
    rig.signals.add_error(IMPORT_ERROR, "v2", now - 3)
    result = compare(rig.signals, settings, SERVICE, "v2", ("v1",), now - 60, now)
    assert not result.failed  # KeyError is the baseline's; one import error
    assert [g.headline for g in result.new_groups] == [
        "ModuleNotFoundError: No module named 'google.cloud.storage'"
    ]
    rig.signals.add_error(IMPORT_ERROR, "v2", now - 2)
    result = compare(rig.signals, settings, SERVICE, "v2", ("v1",), now - 60, now)
    assert result.failed
    assert "(2 times): ModuleNotFoundError" in result.failures[0]


# -- the machine --------------------------------------------------------------


def test_healthy_candidate_is_promoted_step_by_step(rig: Rig) -> None:
    rig.signals.figures = {"v1": (1000, 1), "v2": (100, 0)}
    guard = rig.guard()
    events: list[GuardEvent] = []
    guard.subscribe(events.append)
    guard.prepare()

    assert rig.tick_until(guard, GuardState.PROMOTED, limit=80) is GuardState.PROMOTED
    assert [s.as_dict() for s in rig.engine.sent] == [
        {"v1": 0.99, "v2": 0.01},
        {"v1": 0.9, "v2": 0.1},
        {"v1": 0.5, "v2": 0.5},
        {"v2": 1.0},
    ]
    result = guard.result
    assert result is not None and result.promoted and result.steps_passed == 4
    assert result.split_after == ip(v2=1.0)

    rows = rig.journal.rows(service=SERVICE)
    assert [(r.action, r.outcome) for r in rows] == [("guard-step", "succeeded")] * 4
    assert rows[0].split_before == ip(v1=1.0)

    record = rig.store.get(guard.record.id)  # type: ignore[union-attr]
    assert record is not None and record.state is GuardState.PROMOTED
    assert record.finished is not None and record.split_live == ip(v2=1.0)
    stored = [e.kind for e in rig.store.events(record.id)]
    assert stored.count("step") == 8  # each step live, then passed
    assert "comparison" not in stored
    assert any(e.kind is EventKind.COMPARISON for e in events)


def test_failed_step_restores_the_split_from_before_in_one_change(
    tmp_path: Path,
) -> None:
    rig = make_rig(tmp_path, ip(v1=0.7, v3=0.3))
    try:
        rig.signals.figures = {"v1": (700, 0), "v3": (300, 1), "v2": (0, 0)}
        guard = rig.guard()
        guard.prepare()
        rig.tick_until(guard, GuardState.HOLDING)
        rig.tick_until(guard, GuardState.SHIFTING)
        rig.tick_until(guard, GuardState.HOLDING)
        assert rig.engine.split.as_dict() == {"v1": 0.63, "v2": 0.1, "v3": 0.27}

        rig.signals.figures["v2"] = (100, 30)
        rig.signals.add_error(IMPORT_ERROR, "v2", rig.clock())
        state = rig.tick_until(guard, GuardState.ROLLED_BACK, GuardState.BROKEN)
        assert state is GuardState.ROLLED_BACK
        # One change from step 2 straight back, never down through step 1.
        assert rig.engine.sent[-1] == ip(v1=0.7, v3=0.3)
        assert len(rig.engine.sent) == 3
        assert rig.engine.split == ip(v1=0.7, v3=0.3)

        result = guard.result
        assert result is not None
        assert "Step 2 (10%) failed" in result.reason
        assert "30.0% (30 of 100 requests)" in result.reason
        assert "No module named 'google.cloud.storage'" in result.tracebacks[0]
        rows = rig.journal.rows(service=SERVICE)
        assert rows[-1].action == "guard-rollback"
        assert rows[-1].split_after == ip(v1=0.7, v3=0.3)
    finally:
        rig.runner.shutdown(timeout=5)


def test_pause_freezes_the_hold_and_resume_goes_on(rig: Rig) -> None:
    guard = rig.guard(settings=GuardSettings(hold_seconds=5, smoke=None))
    guard.prepare()
    rig.tick_until(guard, GuardState.HOLDING)
    guard.pause()
    rig.tick_until(guard, GuardState.PAUSED)
    for _ in range(20):
        guard.tick()
        rig.clock.advance(1.0)
    assert guard.state is GuardState.PAUSED
    assert len(rig.engine.sent) == 1
    assert guard.status().held < 5

    guard.resume()
    rig.tick_until(guard, GuardState.SHIFTING)
    assert guard.status().step == 0


def test_a_failure_while_paused_still_rolls_back(rig: Rig) -> None:
    guard = rig.guard()
    guard.prepare()
    rig.tick_until(guard, GuardState.HOLDING)
    guard.pause()
    rig.tick_until(guard, GuardState.PAUSED)
    rig.signals.add_error(IMPORT_ERROR, "v2", rig.clock())
    assert rig.tick_until(guard, GuardState.ROLLED_BACK) is GuardState.ROLLED_BACK
    assert rig.engine.split == ip(v1=1.0)


def test_promote_now_sends_all_traffic_at_once(rig: Rig) -> None:
    guard = rig.guard()
    guard.prepare()
    rig.tick_until(guard, GuardState.HOLDING)
    guard.promote_now()
    rig.tick_until(guard, GuardState.PROMOTED)
    assert [s.as_dict() for s in rig.engine.sent] == [
        {"v1": 0.99, "v2": 0.01}, {"v2": 1.0},
    ]


def test_abort_restores_and_before_any_traffic_moves_nothing(rig: Rig) -> None:
    guard = rig.guard()
    guard.prepare()
    rig.tick_until(guard, GuardState.HOLDING)
    guard.abort()
    assert rig.tick_until(guard, GuardState.ABORTED) is GuardState.ABORTED
    assert rig.engine.split == ip(v1=1.0)
    assert rig.journal.rows()[-1].action == "guard-rollback"

    second = rig.guard()
    second.prepare()
    second.abort()
    rig.tick_until(second, GuardState.ABORTED)
    assert len(rig.engine.sent) == 2  # the first guard's step and restore only


def test_candidate_with_known_new_errors_is_rejected_before_traffic(
    rig: Rig,
) -> None:
    rig.signals.add_error(IMPORT_ERROR, "v2", rig.clock() - 30)
    guard = rig.guard()
    guard.prepare()
    assert rig.tick_until(guard, GuardState.REJECTED) is GuardState.REJECTED
    assert rig.engine.sent == []
    assert guard.result is not None and not guard.result.traffic_moved


def test_unreachable_first_step_changes_nothing_and_says_so(rig: Rig) -> None:
    rig.engine.failures = [
        AdminError(ErrorKind.UNREACHABLE, "App Engine could not be reached.")
    ]
    guard = rig.guard()
    guard.prepare()
    rig.tick_until(guard, GuardState.ROLLED_BACK)
    result = guard.result
    assert result is not None and result.unreachable and not result.traffic_moved
    assert rig.engine.split == ip(v1=1.0)
    assert len(rig.engine.sent) == 1  # the live split was already the old one


def test_a_restore_that_keeps_failing_ends_broken_with_the_split_recorded(
    rig: Rig,
) -> None:
    guard = rig.guard(settings=GuardSettings(hold_seconds=10, smoke=None,
                                             restore_attempts=2))
    guard.prepare()
    rig.tick_until(guard, GuardState.HOLDING)
    failed = AdminError(
        ErrorKind.FAILED, "The operation failed.", sent=True, operation_name="op"
    )
    rig.engine.failures = [failed, failed]
    guard.abort()
    assert rig.tick_until(guard, GuardState.BROKEN) is GuardState.BROKEN
    record = rig.store.get(guard.record.id)  # type: ignore[union-attr]
    assert record is not None and record.unfinished  # offered at the next start
    assert record.split_live == ip(v1=0.99, v2=0.01)
    assert "restore it by hand" in record.reason


def test_no_step_is_sent_that_could_not_be_recorded_first(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    guard = rig.guard()
    guard.prepare()

    def broken(*args: object, **kwargs: object) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(rig.store, "update", broken)
    rig.tick_until(guard, GuardState.ROLLED_BACK)
    assert rig.engine.sent == []
    assert guard.result is not None
    assert "could not be recorded" in guard.result.reason


def test_a_failing_listener_does_not_stop_the_guard(rig: Rig) -> None:
    def listener(event: GuardEvent) -> None:
        raise RuntimeError("bug in a panel")

    guard = rig.guard(settings=GuardSettings(steps=(100.0,), hold_seconds=1,
                                             smoke=None))
    guard.subscribe(listener)
    guard.prepare()
    assert rig.tick_until(guard, GuardState.PROMOTED) is GuardState.PROMOTED


def test_prepare_refuses_what_cannot_be_rolled_out(rig: Rig) -> None:
    with pytest.raises(GuardConfigError, match="no version v9"):
        rig.guard("v9").prepare()
    rig.engine.split = ip(v2=1.0)
    with pytest.raises(GuardConfigError, match="already serves all the traffic"):
        rig.guard("v2").prepare()
    rig.engine.split = ip(v1=1.0)
    with pytest.raises(GuardConfigError, match="more than 2 decimals"):
        rig.guard(settings=GuardSettings(steps=(0.5, 100.0))).prepare()
    assert rig.store.unfinished() == []


def test_a_failed_change_that_took_no_effect_is_not_counted_as_moved(
    rig: Rig,
) -> None:
    rig.engine.failures = [
        AdminError(ErrorKind.FAILED, "The operation failed.", sent=True)
    ]
    guard = rig.guard()
    guard.prepare()
    rig.tick_until(guard, GuardState.ROLLED_BACK)
    result = guard.result
    assert result is not None and not result.traffic_moved
    assert "The traffic change for step 1 failed" in result.reason
    assert rig.engine.split == ip(v1=1.0)


def test_on_its_thread_a_bug_in_a_tick_rolls_back_instead_of_dying(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    guard = rig.guard(settings=GuardSettings(hold_seconds=10, smoke=None,
                                             poll_seconds=0.05))
    guard.prepare()
    rig.tick_until(guard, GuardState.HOLDING)

    def broken_window(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug in the figures")

    monkeypatch.setattr(rig.signals, "window", broken_window)
    guard.start()
    result = guard.wait(10)
    assert result is not None and result.state is GuardState.ROLLED_BACK
    assert "internal error" in result.reason
    assert rig.engine.split == ip(v1=1.0)
