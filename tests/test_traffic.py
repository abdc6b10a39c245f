"""The traffic controller, operations and history, over a fake backend.

The same flows run against the emulator through the real clients in
test_traffic_emulator.py; here the backend is a small in-memory stand-in so
that each branch (changed since shown, failure after sending, journal
outage...) can be reached exactly.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from deployconsole.core.appmodel import Scaling, ServiceInfo, ServingStatus, VersionInfo
from deployconsole.core.history import (
    AuditChange,
    RollbackError,
    Source,
    merge,
    rollback_target,
)
from deployconsole.core.journal import Journal, JournalRow
from deployconsole.core.operations import (
    AdminError,
    ErrorKind,
    Operation,
    OperationRunner,
    Outcome,
    OutcomeStatus,
)
from deployconsole.core.split import ShardBy, Split
from deployconsole.core.traffic import TrafficController

T0 = datetime(2025, 12, 3, 16, 0, tzinfo=timezone.utc)


def version(version_id: str, **changes: object) -> VersionInfo:
    values: dict[str, object] = dict(
        service_id="default", id=version_id, serving_status=ServingStatus.SERVING,
        runtime="python27", env="standard", scaling=Scaling.AUTOMATIC,
        instances=1, create_time=T0, created_by="dev@example.com",
        version_url=f"http://x/{version_id}", warmup_enabled=True,
    )
    values.update(changes)
    return VersionInfo(**values)  # type: ignore[arg-type]


@dataclass
class FakeBackend:
    split: Split = field(default_factory=lambda: Split.of({"v1": 1.0}, ShardBy.IP))
    versions: list[VersionInfo] = field(
        default_factory=lambda: [version("v1"), version("v2"), version("v3")]
    )
    sent: list[Split] = field(default_factory=list)
    fail_send: AdminError | None = None
    fail_read: AdminError | None = None
    # Runs at the re-read, to act as someone else changing the split.
    on_read: Callable[[], None] | None = None

    @property
    def project(self) -> str:
        return "demo"

    def get_service(self, service_id: str) -> ServiceInfo:
        if self.on_read is not None:
            hook, self.on_read = self.on_read, None
            hook()
        if self.fail_read is not None:
            raise self.fail_read
        return ServiceInfo(service_id, self.split)

    def list_versions(
        self, service_id: str, *, with_instances: bool = True
    ) -> list[VersionInfo]:
        return list(self.versions)

    def update_split(
        self, service_id: str, split: Split, *, migrate: bool,
        progress: Callable[[str], None],
    ) -> str:
        progress("Operation op-1 accepted; waiting for it to finish.")
        if self.fail_send is not None:
            raise self.fail_send
        self.sent.append(split)
        self.split = split
        return "op-1"


@pytest.fixture()
def runner() -> Iterator[OperationRunner]:
    runner = OperationRunner()
    yield runner
    runner.shutdown(timeout=5)


def controller(
    backend: FakeBackend, runner: OperationRunner, journal: Journal | None
) -> TrafficController:
    return TrafficController(backend, runner, journal=journal, identity="me@host")


def apply(ctrl: TrafficController, plan: object) -> Outcome:
    operation = ctrl.apply(plan)  # type: ignore[arg-type]
    outcome = operation.wait(10)
    assert outcome is not None, "the operation did not end within 10 s"
    return outcome


def test_change_is_sent_read_back_and_journaled(
    tmp_path: Path, runner: OperationRunner
) -> None:
    backend = FakeBackend()
    journal = Journal(tmp_path / "j.sqlite3")
    ctrl = controller(backend, runner, journal)

    plan = ctrl.plan("default", {"v1": 9, "v2": 1})
    assert not plan.refused and not plan.unchanged
    assert plan.after == Split.of({"v1": 0.9, "v2": 0.1}, ShardBy.IP)
    assert plan.diff.lines() == ["v1: 100% → 90%", "v2: 0% → 10%"]

    steps: list[str] = []
    operation = ctrl.apply(plan, on_progress=lambda op, s: steps.append(s.message))
    outcome = operation.wait(10)
    assert outcome is not None and outcome.succeeded
    assert outcome.server_split == plan.after
    assert outcome.operation_name == "op-1"
    assert backend.sent == [plan.after]
    assert steps == [
        "Reading the live split of default.",
        "Sending the split v1 90%, v2 10% (by ip).",
        "Operation op-1 accepted; waiting for it to finish.",
        "Reading back the split of default.",
    ]

    (row,) = journal.rows()
    assert row.outcome == "succeeded" and row.identity == "me@host"
    assert row.split_before == plan.before and row.split_after == plan.after
    assert row.operation_name == "op-1" and row.action == "set-traffic"


def test_split_changed_since_shown_sends_nothing(
    tmp_path: Path, runner: OperationRunner
) -> None:
    backend = FakeBackend()
    journal = Journal(tmp_path / "j.sqlite3")
    ctrl = controller(backend, runner, journal)
    plan = ctrl.plan("default", {"v2": 1})

    def someone_else() -> None:
        backend.split = Split.of({"v1": 0.5, "v3": 0.5}, ShardBy.IP)

    backend.on_read = someone_else
    outcome = apply(ctrl, plan)
    assert outcome.status is OutcomeStatus.CHANGED and outcome.nothing_sent
    assert backend.sent == []
    assert outcome.difference is not None
    assert outcome.difference.lines() == ["v1: 100% → 50%", "v3: 0% → 50%"]
    assert "Nothing was sent" in outcome.message
    assert journal.rows()[0].outcome == "changed-since-shown"

    # Planned again from what is live now, it goes through.
    again = apply(ctrl, ctrl.plan("default", {"v2": 1}))
    assert again.succeeded and backend.split.as_dict() == {"v2": 1.0}


def test_refused_plan_is_explained_and_never_sent(runner: OperationRunner) -> None:
    backend = FakeBackend(
        versions=[version("v1"), version("v2", env="flexible", warmup_enabled=False)]
    )
    ctrl = controller(backend, runner, None)
    plan = ctrl.plan("default", {"v2": 1}, migrate=True)
    assert plan.refused
    assert any("standard environment" in p for p in plan.problems)
    assert any("warmup" in p for p in plan.problems)
    outcome = apply(ctrl, plan)
    assert outcome.status is OutcomeStatus.REFUSED
    assert backend.sent == []

    bad = ctrl.plan("default", {"v1": 1, "ghost": 1})
    assert bad.problems == ("There is no version ghost in this service.",)
    zero = ctrl.plan("default", {"v1": 1, "v2": 0})
    assert zero.refused and "zero" in zero.problems[0]


def test_plan_keeps_the_live_sharding_unless_told(runner: OperationRunner) -> None:
    backend = FakeBackend(split=Split.of({"v1": 1.0}, ShardBy.COOKIE))
    ctrl = controller(backend, runner, None)
    assert ctrl.plan("default", {"v1": 1, "v2": 2}).after.shard_by is ShardBy.COOKIE
    plan = ctrl.plan("default", {"v1": 1, "v2": 2}, shard_by=ShardBy.IP)
    assert plan.after.as_dict() == {"v1": 0.33, "v2": 0.67}
    assert ctrl.plan("default", {"v1": 5}).unchanged


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (AdminError(ErrorKind.FAILED, "op failed.", sent=True), OutcomeStatus.FAILED),
        (AdminError(ErrorKind.REFUSED, "no."), OutcomeStatus.REFUSED),
        (AdminError(ErrorKind.PERMISSION, "denied."), OutcomeStatus.PERMISSION),
        (AdminError(ErrorKind.UNREACHABLE, "gone."), OutcomeStatus.UNREACHABLE),
        (
            AdminError(ErrorKind.UNREACHABLE, "lost while polling.", sent=True),
            OutcomeStatus.FAILED,
        ),
    ],
)
def test_send_failures_become_plain_outcomes(
    tmp_path: Path, runner: OperationRunner, error: AdminError, status: OutcomeStatus
) -> None:
    backend = FakeBackend(fail_send=error)
    journal = Journal(tmp_path / "j.sqlite3")
    ctrl = controller(backend, runner, journal)
    outcome = apply(ctrl, ctrl.plan("default", {"v2": 1}))
    assert outcome.status is status
    assert outcome.message.startswith(error.message)
    if status is OutcomeStatus.FAILED:
        # After a failure the server's split is read back and shown.
        assert outcome.server_split == backend.split
        assert "The server has v1 100%" in outcome.message
    (row,) = journal.rows()
    assert row.outcome == status.value and row.error == outcome.message


def test_unreadable_split_before_sending(runner: OperationRunner) -> None:
    backend = FakeBackend()
    ctrl = controller(backend, runner, None)
    plan = ctrl.plan("default", {"v2": 1})
    backend.fail_read = AdminError(ErrorKind.UNREACHABLE, "App Engine is gone.")
    outcome = apply(ctrl, plan)
    assert outcome.status is OutcomeStatus.UNREACHABLE and backend.sent == []


def test_a_journal_outage_does_not_fail_the_change(
    tmp_path: Path, runner: OperationRunner, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    ctrl = controller(FakeBackend(), runner, Journal(blocker / "j.sqlite3"))
    outcome = apply(ctrl, ctrl.plan("default", {"v2": 1}))
    assert outcome.succeeded
    assert "Could not write the journal row" in caplog.text


def test_runner_runs_one_at_a_time_in_order() -> None:
    runner = OperationRunner()
    release = threading.Event()
    order: list[str] = []
    running = 0
    overlap = False
    lock = threading.Lock()

    def action(name: str) -> Callable[[Operation], Outcome]:
        def run(op: Operation) -> Outcome:
            nonlocal running, overlap
            with lock:
                running += 1
                overlap = overlap or running > 1
            if name == "first":
                release.wait(5)
            order.append(name)
            with lock:
                running -= 1
            return Outcome(OutcomeStatus.SUCCEEDED, name)
        return run

    first = runner.submit(Operation("t", "first", "x", action("first")))
    second = runner.submit(Operation("t", "second", "x", action("second")))
    third = runner.submit(Operation("t", "third", "x", action("third")))
    assert third.cancel()
    assert not second.done
    release.set()
    assert second.wait(5) is not None and first.done
    assert order == ["first", "second"] and not overlap
    assert third.outcome is not None
    assert third.outcome.status is OutcomeStatus.CANCELLED
    runner.shutdown(timeout=5)
    with pytest.raises(RuntimeError):
        runner.submit(Operation("t", "late", "x", action("late")))


def test_a_crashing_action_ends_failed_and_listeners_are_told() -> None:
    finished: list[Outcome] = []
    runner = OperationRunner(on_finished=lambda op, outcome: finished.append(outcome))

    def crash(op: Operation) -> Outcome:
        raise KeyError("bug")

    operation = runner.submit(Operation("t", "Crash", "x", crash))
    outcome = operation.wait(5)
    runner.shutdown(timeout=5)
    assert outcome is not None and outcome.status is OutcomeStatus.FAILED
    assert "failed unexpectedly" in outcome.message
    assert finished == [outcome]


# History and rollback.


def audit(minutes: int, after: dict[str, float], **changes: object) -> AuditChange:
    values: dict[str, object] = dict(
        time=T0 + timedelta(minutes=minutes), who="dev@example.com",
        project="demo", service_id="default",
        requested=Split.of(after, ShardBy.IP),
    )
    values.update(changes)
    return AuditChange(**values)  # type: ignore[arg-type]


def journal_row(minutes: float, before: dict[str, float], after: dict[str, float],
                **changes: object) -> JournalRow:
    values: dict[str, object] = dict(
        time=T0 + timedelta(minutes=minutes), identity="me@host", project="demo",
        service="default", action="set-traffic", target="default",
        split_before=Split.of(before, ShardBy.IP),
        split_requested=Split.of(after, ShardBy.IP),
        split_after=Split.of(after, ShardBy.IP), migrate=False,
        operation_name="", outcome="succeeded",
    )
    values.update(changes)
    return JournalRow(**values)  # type: ignore[arg-type]


def test_merge_joins_the_same_change_from_both_sources() -> None:
    rows = [
        journal_row(1, {"v1": 1}, {"v2": 1}, operation_name="op-a"),
        journal_row(3, {"v2": 1}, {"v3": 1}),  # matched by split and time
        journal_row(4, {"v3": 1}, {"v1": 1}, outcome="refused"),
    ]
    changes = [
        audit(1, {"v2": 1}, operation_name="op-a", who="sa@iam"),
        audit(2, {"v1": 0.5, "v2": 0.5}, who="web@console"),
        audit(3, {"v3": 1}, who="sa@iam"),
    ]
    history = merge(rows, changes)
    assert [(c.source, c.who) for c in history] == [
        (Source.BOTH, "sa@iam"),
        (Source.AUDIT_LOG, "web@console"),
        (Source.BOTH, "sa@iam"),
    ]
    assert len(merge(rows, changes, include_unsent=True)) == 4


def test_rollback_uses_the_recorded_before() -> None:
    history = merge([journal_row(1, {"v1": 1}, {"v2": 1})], [])
    target = rollback_target("default", history, Split.of({"v2": 1}, ShardBy.IP))
    assert target.split.as_dict() == {"v1": 1.0}


def test_rollback_falls_back_to_the_previous_change() -> None:
    # The latest change came from elsewhere and does not say what was before.
    history = merge([], [audit(1, {"v1": 1}), audit(5, {"v3": 1})])
    target = rollback_target("default", history, Split.of({"v3": 1}, ShardBy.IP))
    assert target.split.as_dict() == {"v1": 1.0}
    assert target.undoes.time == T0 + timedelta(minutes=5)


def test_rollback_skips_failed_changes() -> None:
    history = merge(
        [journal_row(9, {"v3": 1}, {"v2": 1}, outcome="failed")],
        [audit(1, {"v1": 1}), audit(5, {"v3": 1}, before=Split.of({"v1": 1}))],
    )
    target = rollback_target("default", history, Split.of({"v3": 1}, ShardBy.IP))
    assert target.split.as_dict() == {"v1": 1.0}


@pytest.mark.parametrize(
    ("history", "fragment"),
    [
        ([], "nothing to roll back to"),
        ([audit(1, {"v3": 1})], "does not record the split before it"),
        ([audit(1, {"v1": 1}), audit(2, {"v3": 1})], "already serves"),
    ],
)
def test_rollback_explains_why_not(history: list[AuditChange], fragment: str) -> None:
    live = Split.of({"v1": 1}, ShardBy.IP)
    with pytest.raises(RollbackError, match=fragment):
        rollback_target("default", merge([], history), live)


def test_plan_rollback_and_send_all(tmp_path: Path, runner: OperationRunner) -> None:
    backend = FakeBackend()
    journal = Journal(tmp_path / "j.sqlite3")
    ctrl = controller(backend, runner, journal)
    assert ctrl.plan_rollback("default").refused

    send_all = ctrl.plan_send_all("default", "v3")
    assert send_all.after.as_dict() == {"v3": 1.0}
    assert apply(ctrl, send_all).succeeded

    plan = ctrl.plan_rollback("default")
    assert not plan.refused and plan.action == "rollback"
    assert plan.after.as_dict() == {"v1": 1.0}
    assert "Roll back default" in plan.description
    assert apply(ctrl, plan).succeeded
    assert backend.split.as_dict() == {"v1": 1.0}
    assert [r.action for r in journal.rows()] == ["send-all-traffic", "rollback"]


def test_merge_prefers_the_operation_name_over_a_similar_entry() -> None:
    # Someone set the same split just before this console did.
    rows = [journal_row(1, {"v3": 1}, {"v1": 1}, operation_name="op-b")]
    similar = audit(1, {"v1": 1}, who="other@example.com")
    similar = AuditChange(**{**similar.__dict__, "time": similar.time
                             - timedelta(seconds=5)})
    ours = audit(1, {"v1": 1}, who="sa@iam", operation_name="op-b")
    history = merge(rows, [ours, similar])
    assert [(c.who, c.source) for c in history] == [
        ("other@example.com", Source.AUDIT_LOG),
        ("sa@iam", Source.BOTH),
    ]


def test_merge_does_not_match_an_entry_from_long_before() -> None:
    rows = [journal_row(10, {"v3": 1}, {"v1": 1})]
    history = merge(rows, [audit(1, {"v1": 1})])
    assert [c.source for c in history] == [Source.AUDIT_LOG, Source.JOURNAL]
