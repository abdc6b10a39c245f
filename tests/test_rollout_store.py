"""Crash recovery: the store's record of a rollout, and taking it over.

A "crash" is a guard dropped without any cleanup in the middle of a
rollout, as a killed console would leave it; a new guard then finds the
unfinished rollout in the store and resumes or aborts it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from test_rollout_support import SERVICE, Rig, make_rig

from deployconsole.core.rollout_model import (
    GuardConfigError,
    GuardSettings,
    GuardState,
    settings_from_json,
)
from deployconsole.core.rollout_store import RolloutBusy, RolloutRecord
from deployconsole.core.smoke import SmokePlan
from deployconsole.core.split import ShardBy, Split


@pytest.fixture()
def rig(tmp_path: Path) -> Iterator[Rig]:
    rig = make_rig(tmp_path)
    yield rig
    rig.runner.shutdown(timeout=5)


def ip(**allocations: float) -> Split:
    return Split.of(allocations, ShardBy.IP)


def crash_at_step_two(rig: Rig) -> RolloutRecord:
    """Run a guard to step 2 (10%) and drop it; the record it left."""
    guard = rig.guard()
    guard.prepare()
    rig.tick_until(guard, GuardState.HOLDING)
    rig.tick_until(guard, GuardState.SHIFTING)
    rig.tick_until(guard, GuardState.HOLDING)
    assert rig.engine.split == ip(v1=0.9, v2=0.1)
    del guard
    [record] = rig.store.unfinished(rig.engine.project, SERVICE)
    return record


def test_every_step_is_recorded_before_it_is_sent(rig: Rig) -> None:
    seen: list[tuple[GuardState, Split | None, Split]] = []
    send: Callable[..., str] = rig.engine.update_split

    def recording_send(service_id: str, split: Split, **kwargs: object) -> str:
        [record] = rig.store.unfinished()
        seen.append((record.state, record.split_target, split))
        return send(service_id, split, **kwargs)

    rig.engine.update_split = recording_send  # type: ignore[method-assign]
    guard = rig.guard()
    guard.prepare()
    rig.tick_until(guard, GuardState.PROMOTED, limit=80)
    assert len(seen) == 4
    for state, target, sent in seen:
        assert state is GuardState.SHIFTING
        assert target == sent


def test_crash_mid_step_is_found_and_resumed_at_the_same_step(rig: Rig) -> None:
    record = crash_at_step_two(rig)
    assert record.state is GuardState.HOLDING and record.step == 1
    assert record.split_before == ip(v1=1.0)
    assert record.split_live == ip(v1=0.9, v2=0.1)

    # A new rollout of the service is refused while this one is unfinished.
    with pytest.raises(RolloutBusy, match="resume or abort it first"):
        rig.guard().prepare()

    rig.clock.advance(60)  # the dead console stopped beating
    guard = rig.guard(settings=settings_from_json(record.settings))
    guard.adopt(record, "resume")
    assert guard.state is GuardState.HOLDING and guard.status().step == 1
    assert rig.tick_until(guard, GuardState.PROMOTED, limit=80) is (
        GuardState.PROMOTED
    )
    # Step 2 was not sent again; steps 3 and 4 were.
    assert [s.as_dict() for s in rig.engine.sent[2:]] == [
        {"v1": 0.5, "v2": 0.5}, {"v2": 1.0},
    ]
    stored = rig.store.get(record.id)
    assert stored is not None and not stored.unfinished
    assert any("Resumed the unfinished rollout" in e.message
               for e in rig.store.events(record.id))


def test_crash_mid_step_can_be_aborted(rig: Rig) -> None:
    record = crash_at_step_two(rig)
    rig.clock.advance(60)
    guard = rig.guard()
    guard.adopt(record, "abort")
    assert rig.tick_until(guard, GuardState.ABORTED) is GuardState.ABORTED
    assert rig.engine.split == ip(v1=1.0)
    assert rig.engine.sent[-1] == ip(v1=1.0)
    assert rig.store.unfinished() == []
    assert rig.journal.rows()[-1].action == "guard-rollback"


def test_a_rollout_whose_console_still_beats_is_not_taken_over(rig: Rig) -> None:
    record = crash_at_step_two(rig)
    with pytest.raises(GuardConfigError, match="still run by another console"):
        rig.guard().adopt(record, "resume")
    guard = rig.guard()
    guard.adopt(record, "resume", force=True)
    assert guard.state is GuardState.HOLDING


def test_a_split_changed_outside_the_guard_is_not_resumed(rig: Rig) -> None:
    record = crash_at_step_two(rig)
    rig.engine.split = ip(v1=0.8, v3=0.2)
    rig.clock.advance(60)
    with pytest.raises(GuardConfigError, match="changed outside the guard"):
        rig.guard().adopt(record, "resume")


def test_a_crash_before_any_step_starts_over(rig: Rig) -> None:
    guard = rig.guard()
    guard.prepare()
    del guard
    [record] = rig.store.unfinished()
    assert record.state is GuardState.PENDING
    rig.clock.advance(60)
    guard = rig.guard()
    guard.adopt(record, "resume")
    assert rig.tick_until(guard, GuardState.PROMOTED, limit=80) is (
        GuardState.PROMOTED
    )


def test_settings_survive_the_store(rig: Rig) -> None:
    settings = GuardSettings(
        steps=(5.0, 100.0), hold_seconds=12, max_error_ratio=0.05, factor=3,
        min_requests=20, new_group_count=2,
        smoke=SmokePlan(paths=("/", "/healthz"), expected_status=204, retries=0),
    )
    guard = rig.guard(settings=settings)
    guard.prepare()
    [record] = rig.store.unfinished()
    assert settings_from_json(record.settings) == settings


def test_the_timeline_is_append_only(rig: Rig) -> None:
    guard = rig.guard()
    guard.prepare()
    with sqlite3.connect(rig.store.path) as connection, pytest.raises(
        sqlite3.IntegrityError, match="append-only"
    ):
        connection.execute("DELETE FROM rollout_events")
