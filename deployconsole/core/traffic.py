"""Changing where a service's traffic goes, safely.

The :class:`TrafficController` turns a request ("give v2 10%", "roll back",
"send all traffic to v3") into a :class:`TrafficPlan` that says the split
before and after, and every reason App Engine would refuse it, before
anything is sent. Applying a plan is one :class:`Operation` on the serial
runner which:

1. reads the live split again, and sends nothing if it differs from the
   split the user was shown (the outcome carries the difference);
2. sends the split and waits for the long-running operation;
3. reads the split back, so the outcome shows what the server has, not what
   was hoped for;
4. appends a journal row, whatever happened.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Protocol

from deployconsole.core.appmodel import ServiceInfo, VersionInfo
from deployconsole.core.history import (
    AuditChange,
    RollbackError,
    TrafficChange,
    merge,
    rollback_target,
)
from deployconsole.core.journal import Journal, JournalRow
from deployconsole.core.operations import (
    AdminError,
    FinishedCallback,
    Operation,
    OperationRunner,
    Outcome,
    OutcomeStatus,
    ProgressCallback,
    outcome_for_error,
)
from deployconsole.core.split import (
    ShardBy,
    Split,
    SplitDiff,
    SplitError,
    normalise,
    plan_problems,
    stopped_warnings,
)

log = logging.getLogger("deployconsole.traffic")

ProgressFn = Callable[[str], None]


class AdminReads(Protocol):
    """The reads every controller needs from App Engine (gcp.admin.AdminClient)."""

    @property
    def project(self) -> str: ...

    def get_service(self, service_id: str) -> ServiceInfo: ...

    def list_versions(
        self, service_id: str, *, with_instances: bool = True
    ) -> list[VersionInfo]: ...


class TrafficBackend(AdminReads, Protocol):
    """What the traffic controller needs from App Engine."""

    def update_split(
        self, service_id: str, split: Split, *, migrate: bool, progress: ProgressFn
    ) -> str:
        """Send the split, wait for the operation; its name. Raises AdminError."""
        ...


class AuditSource(Protocol):
    """Traffic changes from the Cloud Audit Log (gcp.audit.AuditReader)."""

    def traffic_changes(self, service_id: str) -> list[AuditChange]: ...


@dataclass(frozen=True)
class TrafficPlan:
    """A split change as it would be sent, with every reason it would fail.

    Attributes:
        project, service_id: where.
        before: the live split when the plan was made (shown to the user).
        after: the split to send (empty when the request could not be
            turned into one; ``problems`` says why).
        migrate: whether to migrate gradually.
        versions: the service's versions when the plan was made.
        problems: why App Engine would refuse it; not sent when non-empty.
        warnings: things the user should know but that do not stop it.
        action: ``set-traffic``, ``send-all-traffic`` or ``rollback``.
        description: one sentence for confirmation dialogs and the journal.
    """

    project: str
    service_id: str
    before: Split
    after: Split
    migrate: bool
    versions: tuple[VersionInfo, ...]
    problems: tuple[str, ...]
    warnings: tuple[str, ...] = ()
    action: str = "set-traffic"
    description: str = ""

    @property
    def refused(self) -> bool:
        return bool(self.problems)

    @property
    def unchanged(self) -> bool:
        """True when the live split already is the one asked for."""
        return not self.refused and self.after.matches(self.before)

    @property
    def diff(self) -> SplitDiff:
        return SplitDiff(self.before, self.after)

    def confirmation_lines(self) -> list[str]:
        """Before → after, for a confirmation prompt."""
        lines = [
            f"{self.description}",
            f"  before: {self.before.describe()}",
            f"  after:  {self.after.describe()}",
        ]
        if self.migrate:
            lines.append("  traffic moves gradually (migration)")
        lines.extend(f"  warning: {warning}" for warning in self.warnings)
        return lines


class TrafficController:
    """Plans and applies traffic changes for one project.

    Args:
        backend: the App Engine adapter.
        runner: the serial operation runner shared by every mutation.
        journal: where each action is recorded (None: not recorded).
        identity: who is acting, for the journal.
        audit: the audit-log reader for history (None: journal only).
        clock: seconds since the epoch (tests pass a fake).
    """

    def __init__(
        self,
        backend: TrafficBackend,
        runner: OperationRunner,
        *,
        journal: Journal | None,
        identity: str,
        audit: AuditSource | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.backend = backend
        self.runner = runner
        self.journal = journal
        self.identity = identity
        self.audit = audit
        self.clock = clock

    @property
    def project(self) -> str:
        return self.backend.project

    # Plans (reads only; run them off the GUI thread).

    def plan(
        self,
        service_id: str,
        requested: Mapping[str, float],
        *,
        shard_by: ShardBy | None = None,
        migrate: bool = False,
    ) -> TrafficPlan:
        """Plan a split from user weights (normalised and rounded like gcloud).

        ``shard_by`` None keeps the service's current sharding (IP when it
        has none).
        """
        live, versions = self._read(service_id)
        if shard_by is None:
            shard_by = live.shard_by
        if shard_by is ShardBy.UNSPECIFIED:
            shard_by = ShardBy.IP
        description = f"Change the traffic split of {service_id}"
        try:
            after = normalise(requested, shard_by)
        except SplitError as error:
            return self._plan(
                service_id, live, versions, None, migrate, "set-traffic",
                description, error.problems,
            )
        return self._plan(
            service_id, live, versions, after, migrate, "set-traffic", description
        )

    def plan_split(
        self,
        service_id: str,
        split: Split,
        *,
        migrate: bool = False,
        action: str = "set-traffic",
        description: str = "",
    ) -> TrafficPlan:
        """Plan an exact split (from the split editor): checked, not rounded."""
        live, versions = self._read(service_id)
        return self._plan(
            service_id, live, versions, split, migrate, action,
            description or f"Change the traffic split of {service_id}",
        )

    def plan_send_all(self, service_id: str, version_id: str) -> TrafficPlan:
        """Plan "send all traffic here" for one version."""
        live, versions = self._read(service_id)
        return self._plan(
            service_id, live, versions, Split.of({version_id: 1.0}, live.shard_by),
            False, "send-all-traffic",
            f"Send all traffic of {service_id} to {version_id}",
        )

    def history(
        self, service_id: str, *, include_unsent: bool = False
    ) -> list[TrafficChange]:
        """The service's traffic history from the journal and the audit log,
        oldest first; with ``include_unsent``, also this console's actions
        that sent nothing (refused, changed since shown...)."""
        rows: list[JournalRow] = []
        if self.journal is not None:
            rows = self.journal.rows(project=self.project, service=service_id)
        changes = self.audit.traffic_changes(service_id) if self.audit else []
        return merge(rows, changes, include_unsent=include_unsent)

    def plan_rollback(
        self, service_id: str, history: Sequence[TrafficChange] | None = None
    ) -> TrafficPlan:
        """Plan restoring the split live before the service's latest change.

        When no target can be found the plan is refused with the reason.
        """
        if history is None:
            history = self.history(service_id)
        live, versions = self._read(service_id)
        try:
            target = rollback_target(service_id, history, live)
        except RollbackError as error:
            return self._plan(
                service_id, live, versions, None, False, "rollback",
                f"Roll back the traffic of {service_id}", (str(error),),
            )
        undone = target.undoes
        when = undone.time.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        return self._plan(
            service_id, live, versions, target.split, False, "rollback",
            f"Roll back {service_id} to the split before the change by "
            f"{undone.who} at {when}",
        )

    def _read(self, service_id: str) -> tuple[Split, list[VersionInfo]]:
        live = self.backend.get_service(service_id).split
        return live, self.backend.list_versions(service_id, with_instances=False)

    def _plan(
        self,
        service_id: str,
        live: Split,
        versions: Sequence[VersionInfo],
        after: Split | None,
        migrate: bool,
        action: str,
        description: str,
        problems: Sequence[str] = (),
    ) -> TrafficPlan:
        """``after`` None: no split could be made; ``problems`` say why."""
        warnings: list[str] = []
        if after is None:
            after = Split(live.shard_by, ())
        else:
            problems = plan_problems(after, versions, migrate=migrate)
            warnings = stopped_warnings(after, versions)
        return TrafficPlan(
            self.project, service_id, live, after, migrate, tuple(versions),
            tuple(problems), tuple(warnings), action, description,
        )

    # Applying.

    def apply(
        self,
        plan: TrafficPlan,
        *,
        on_progress: ProgressCallback | None = None,
        on_finished: FinishedCallback | None = None,
    ) -> Operation:
        """Submit the plan as one operation on the runner; returns it.

        The callbacks are attached before it is queued, so none of its steps
        is missed; they run on the runner's thread.
        """
        operation = Operation(
            kind=plan.action,
            description=plan.description,
            target=plan.service_id,
            action=lambda op: self._run(plan, op),
            before=plan.before,
            after=plan.after,
        )
        if on_progress is not None:
            operation.on_progress(on_progress)
        if on_finished is not None:
            operation.on_finished(on_finished)
        return self.runner.submit(operation)

    def _run(self, plan: TrafficPlan, op: Operation) -> Outcome:
        started = self.clock()
        outcome = self._send(plan, op)
        self._record(plan, started, outcome)
        return outcome

    def _send(self, plan: TrafficPlan, op: Operation) -> Outcome:
        service_id = plan.service_id
        if plan.refused:
            return Outcome(OutcomeStatus.REFUSED, " ".join(plan.problems))

        op.report(f"Reading the live split of {service_id}.")
        try:
            live = self.backend.get_service(service_id).split
        except AdminError as error:
            return Outcome(outcome_for_error(error), error.message)
        if not live.matches(plan.before):
            difference = SplitDiff(plan.before, live)
            return Outcome(
                OutcomeStatus.CHANGED,
                f"The split of {service_id} changed since it was shown "
                f"({'; '.join(difference.lines())}); it is now "
                f"{live.describe()}. Nothing was sent: check the new split and "
                "confirm again.",
                server_split=live,
                difference=difference,
            )

        op.report(f"Sending the split {plan.after.describe()}.")
        try:
            name = self.backend.update_split(
                service_id, plan.after, migrate=plan.migrate, progress=op.report
            )
        except AdminError as error:
            return self._after_error(plan, op, error)

        op.report(f"Reading back the split of {service_id}.")
        server = self._read_back(service_id)
        if server is None:
            return Outcome(
                OutcomeStatus.SUCCEEDED,
                f"The operation {name} finished, but the split of {service_id} "
                "could not be read back; refresh to see it.",
                operation_name=name,
            )
        message = f"{service_id} now serves {server.describe()}."
        if not server.matches(plan.after):
            message += (
                f" That differs from the split sent ({plan.after.describe()}): "
                "someone else may have changed it since."
            )
        return Outcome(OutcomeStatus.SUCCEEDED, message, server, name)

    def _after_error(
        self, plan: TrafficPlan, op: Operation, error: AdminError
    ) -> Outcome:
        status = outcome_for_error(error)
        if status is not OutcomeStatus.FAILED:
            return Outcome(status, error.message, operation_name=error.operation_name)
        op.report(f"Reading back the split of {plan.service_id} after the failure.")
        server = self._read_back(plan.service_id)
        if server is None:
            shown = "The split it has now could not be read."
        else:
            shown = f"The server has {server.describe()}."
        return Outcome(
            status, f"{error.message} {shown}", server, error.operation_name
        )

    def _read_back(self, service_id: str) -> Split | None:
        try:
            return self.backend.get_service(service_id).split
        except AdminError as error:
            log.warning("Could not read back the split of %s: %s", service_id, error)
            return None

    def _record(self, plan: TrafficPlan, started: float, outcome: Outcome) -> None:
        if self.journal is None:
            return
        row = JournalRow(
            time=datetime.fromtimestamp(started, tz=timezone.utc),
            identity=self.identity,
            project=self.project,
            service=plan.service_id,
            action=plan.action,
            target=plan.service_id,
            split_before=plan.before,
            split_requested=plan.after if plan.after.allocations else None,
            split_after=outcome.server_split,
            migrate=plan.migrate,
            operation_name=outcome.operation_name,
            outcome=outcome.status.value,
            error="" if outcome.succeeded else outcome.message,
        )
        try:
            self.journal.append(row)
        except (sqlite3.Error, OSError, RuntimeError) as error:
            # The change happened (or not) regardless; losing the row must be
            # visible, but must not turn a success into a failure.
            log.error(
                "Could not write the journal row for %s on %s: %s",
                plan.action, plan.service_id, error,
            )
