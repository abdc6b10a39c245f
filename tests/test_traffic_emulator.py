"""Traffic changes end to end: controller → official clients → emulator.

Each fault of the issue is injected in the emulator: UNAVAILABLE in the
middle of an operation, an operation that ends in error, the split changed
by someone else between show and confirm, PERMISSION_DENIED. The journal is
reopened from disk as after a restart.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from test_traffic_world import DEPLOYER, SERVICE, World, start_world

from deployconsole.core.appmodel import Scaling, ServingStatus
from deployconsole.core.history import Source
from deployconsole.core.journal import Journal
from deployconsole.core.operations import (
    AdminError,
    ErrorKind,
    OperationRunner,
    Outcome,
    OutcomeStatus,
)
from deployconsole.core.split import ShardBy, Split
from deployconsole.core.traffic import TrafficController, TrafficPlan
from deployconsole.gcp.admin import AdminClient
from deployconsole.gcp.audit import AuditReader


@pytest.fixture()
def world() -> Iterator[World]:
    world = start_world()
    yield world
    world.emulator.stop()


@pytest.fixture()
def admin(world: World) -> Iterator[AdminClient]:
    client = AdminClient(world.endpoint, retry_deadline=2.0, operation_timeout=10.0)
    yield client
    client.close()


@pytest.fixture()
def audit(world: World) -> Iterator[AuditReader]:
    reader = AuditReader(world.endpoint, retry_deadline=2.0)
    yield reader
    reader.close()


@pytest.fixture()
def runner() -> Iterator[OperationRunner]:
    runner = OperationRunner()
    yield runner
    runner.shutdown(timeout=10)


def make_controller(
    admin: AdminClient, runner: OperationRunner, audit: AuditReader, path: Path
) -> TrafficController:
    return TrafficController(
        admin, runner, journal=Journal(path), identity="oncall@host", audit=audit
    )


@pytest.fixture()
def controller(
    admin: AdminClient, runner: OperationRunner, audit: AuditReader, tmp_path: Path
) -> TrafficController:
    return make_controller(admin, runner, audit, tmp_path / "journal.sqlite3")


def apply(controller: TrafficController, plan: TrafficPlan) -> Outcome:
    assert not plan.refused, plan.problems
    outcome = controller.apply(plan).wait(20)
    assert outcome is not None, "the operation did not end within 20 s"
    return outcome


def test_versions_are_read_with_every_field(admin: AdminClient) -> None:
    versions = {v.id: v for v in admin.list_versions(SERVICE)}
    assert set(versions) == {"v1", "v2", "v3", "flex1", "manual1"}
    v1 = versions["v1"]
    assert v1.instances == 2 and v1.serving_status is ServingStatus.SERVING
    assert v1.runtime == "python27" and v1.env == "standard"
    assert v1.scaling is Scaling.AUTOMATIC and v1.warmup_enabled
    assert v1.created_by == DEPLOYER and v1.create_time is not None
    assert v1.version_url.endswith("/_v/shop/v1")
    assert versions["v3"].warmup_enabled is False
    assert versions["flex1"].env == "flexible"
    assert versions["manual1"].scaling is Scaling.MANUAL
    assert versions["v2"].instances == 0

    services = {s.id: s for s in admin.list_services()}
    assert services[SERVICE].split.as_dict() == {"v1": 1.0}
    assert [i.id for i in admin.list_instances(SERVICE, "v1")] == ["i-1", "i-2"]
    assert admin.get_application().id == admin.project


def test_change_is_applied_read_back_journaled_and_in_history(
    world: World, controller: TrafficController
) -> None:
    plan = controller.plan(SERVICE, {"v1": 3, "v2": 1}, shard_by=ShardBy.COOKIE)
    assert plan.after.as_dict() == {"v1": 0.75, "v2": 0.25}
    outcome = apply(controller, plan)

    assert outcome.succeeded, outcome.message
    assert world.live_split() == {"v1": 0.75, "v2": 0.25}
    assert outcome.server_split is not None
    assert outcome.server_split.matches(plan.after)
    assert outcome.operation_name.startswith("apps/deployconsole-demo/operations/")

    assert controller.journal is not None
    (row,) = controller.journal.rows()
    assert row.outcome == "succeeded"
    assert row.operation_name == outcome.operation_name

    # The audit log has the same change: listed once, with the server's caller.
    (change,) = [c for c in controller.history(SERVICE) if c.action == "set-traffic"]
    assert change.source is Source.BOTH
    assert change.who == world.emulator.state.config.principal_email


def test_unavailable_mid_operation_is_retried(
    world: World, controller: TrafficController
) -> None:
    plan = controller.plan(SERVICE, {"v2": 1})
    world.fault("unavailable=GetOperation:2")
    outcome = apply(controller, plan)
    assert outcome.succeeded, outcome.message
    assert world.live_split() == {"v2": 1.0}
    assert world.emulator.state.faults.unavailable["GetOperation"] == 0


def test_failed_operation_says_so_and_shows_the_server_split(
    world: World, controller: TrafficController
) -> None:
    plan = controller.plan(SERVICE, {"v2": 1})
    world.fault("operation-error=UpdateService")
    outcome = apply(controller, plan)
    assert outcome.status is OutcomeStatus.FAILED
    assert "failed" in outcome.message
    assert "The server has v1 100%" in outcome.message
    assert world.live_split() == {"v1": 1.0}
    assert outcome.server_split is not None
    assert outcome.server_split.as_dict() == {"v1": 1.0}
    assert controller.journal is not None
    assert controller.journal.rows()[0].outcome == "failed"


def test_split_changed_by_someone_else_between_show_and_confirm(
    world: World, controller: TrafficController
) -> None:
    plan = controller.plan(SERVICE, {"v2": 1})
    world.set_split({"v1": 0.5, "v3": 0.5}, who="web@example.com")

    outcome = apply(controller, plan)
    assert outcome.status is OutcomeStatus.CHANGED
    assert outcome.difference is not None
    assert outcome.difference.lines() == ["v1: 100% → 50%", "v3: 0% → 50%"]
    assert world.live_split() == {"v1": 0.5, "v3": 0.5}

    # Shown again and confirmed, it goes through.
    again = apply(controller, controller.plan(SERVICE, {"v2": 1}))
    assert again.succeeded and world.live_split() == {"v2": 1.0}


def test_permission_denied_sends_nothing(
    world: World, controller: TrafficController
) -> None:
    plan = controller.plan(SERVICE, {"v2": 1})
    world.fault("permission-denied=UpdateService")
    outcome = apply(controller, plan)
    assert outcome.status is OutcomeStatus.PERMISSION and outcome.nothing_sent
    assert outcome.message.startswith("Permission denied while changing")
    assert world.live_split() == {"v1": 1.0}

    world.fault("permission-denied=GetService")
    with pytest.raises(AdminError) as caught:
        controller.plan(SERVICE, {"v2": 1})
    assert caught.value.kind is ErrorKind.PERMISSION


def test_server_refusal_is_translated(admin: AdminClient) -> None:
    with pytest.raises(AdminError) as caught:
        admin.update_split(SERVICE, Split.of({"v1": 0.5, "v2": 0.4}, ShardBy.IP))
    assert caught.value.kind is ErrorKind.REFUSED and not caught.value.sent
    assert "sum to 1" in caught.value.message

    with pytest.raises(AdminError) as caught:
        admin.get_service("nope")
    assert caught.value.kind is ErrorKind.REFUSED


def test_a_read_after_close_says_so_without_an_error_log(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    client = AdminClient(world.endpoint)
    client.close()
    with pytest.raises(AdminError) as caught:
        client.list_instances(SERVICE, "v1")
    assert caught.value.kind is ErrorKind.UNREACHABLE
    assert caught.value.message == (
        f"The connection to App Engine was closed while listing the instances "
        f"of {SERVICE}/v1."
    )
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


def test_unreachable_after_retries(world: World) -> None:
    world.fault("unavailable=GetService:100000")
    with AdminClient(world.endpoint, retry_deadline=0.3) as client:
        with pytest.raises(AdminError) as caught:
            client.get_service(SERVICE)
    assert caught.value.kind is ErrorKind.UNREACHABLE
    assert "even after retrying" in caught.value.message


def test_migration(world: World, controller: TrafficController) -> None:
    refused = controller.plan(SERVICE, {"v3": 1}, migrate=True)
    assert refused.refused and "warmup" in refused.problems[0]
    assert controller.plan(SERVICE, {"flex1": 1}, migrate=True).refused
    assert controller.plan(SERVICE, {"manual1": 1}, migrate=True).refused

    outcome = apply(controller, controller.plan(SERVICE, {"v2": 1}, migrate=True))
    assert outcome.succeeded, outcome.message
    assert world.live_split() == {"v2": 1.0}


def test_rollback_of_a_change_made_elsewhere(
    world: World, controller: TrafficController
) -> None:
    world.set_split({"v3": 1.0}, who="web@example.com")
    history = controller.history(SERVICE)
    assert [(c.who, c.source) for c in history] == [
        ("web@example.com", Source.AUDIT_LOG)
    ]

    plan = controller.plan_rollback(SERVICE)
    assert plan.after.as_dict() == {"v1": 1.0}
    assert "web@example.com" in plan.description
    assert apply(controller, plan).succeeded
    assert world.live_split() == {"v1": 1.0}


def test_journal_survives_a_restart(
    world: World, admin: AdminClient, audit: AuditReader, tmp_path: Path
) -> None:
    path = tmp_path / "journal.sqlite3"
    first_runner = OperationRunner()
    first = make_controller(admin, first_runner, audit, path)
    assert apply(first, first.plan(SERVICE, {"v2": 1})).succeeded
    first_runner.shutdown(timeout=10)

    # A new console: new runner, journal reopened from the same file.
    second_runner = OperationRunner()
    second = make_controller(admin, second_runner, audit, path)
    (row,) = Journal(path).rows()
    assert row.split_before is not None
    assert row.split_before.as_dict() == {"v1": 1.0}
    plan = second.plan_rollback(SERVICE)
    assert plan.after.as_dict() == {"v1": 1.0}
    assert apply(second, plan).succeeded
    second_runner.shutdown(timeout=10)
    assert [r.action for r in Journal(path).rows()] == ["set-traffic", "rollback"]


def test_stop_start_and_delete_versions(world: World, admin: AdminClient) -> None:
    steps: list[str] = []
    admin.set_serving_status(
        SERVICE, "v2", ServingStatus.STOPPED, progress=steps.append
    )
    assert steps[-1].endswith("finished.")
    stopped = {v.id: v for v in admin.list_versions(SERVICE)}["v2"]
    assert stopped.serving_status is ServingStatus.STOPPED and stopped.instances == 0
    admin.set_serving_status(SERVICE, "v2", ServingStatus.SERVING)

    with pytest.raises(AdminError) as caught:
        admin.delete_version(SERVICE, "v1")
    assert "traffic" in caught.value.message

    admin.delete_version(SERVICE, "v3")
    assert "v3" not in {v.id for v in admin.list_versions(SERVICE)}
