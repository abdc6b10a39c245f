"""Stopping, starting and deleting versions, as operations.

Like traffic changes, each is one :class:`Operation` on the shared serial
runner, re-checks the server before sending, and leaves a journal row.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Protocol

from deployconsole.core.appmodel import ServiceInfo, ServingStatus
from deployconsole.core.journal import Journal, JournalRow
from deployconsole.core.operations import (
    AdminError,
    Operation,
    OperationRunner,
    Outcome,
    OutcomeStatus,
    outcome_for_error,
)
from deployconsole.core.traffic import AdminReads, ProgressFn

log = logging.getLogger("deployconsole.versions")

class VersionBackend(AdminReads, Protocol):
    """What stopping, starting and deleting need from App Engine."""

    def set_serving_status(
        self,
        service_id: str,
        version_id: str,
        status: ServingStatus,
        *,
        progress: ProgressFn = ...,
    ) -> str: ...

    def delete_version(
        self, service_id: str, version_id: str, *, progress: ProgressFn = ...
    ) -> str: ...


def delete_problems(service: ServiceInfo, version_id: str) -> list[str]:
    """Why App Engine would refuse deleting ``version_id`` (empty: it would not)."""
    if service.split.allocation(version_id) > 0:
        return [
            f"{version_id} still receives traffic in {service.id}; move its "
            "traffic elsewhere before deleting it."
        ]
    return []


def serves_last_traffic(service: ServiceInfo, version_id: str) -> bool:
    """Whether ``version_id`` is the only version of the service with traffic."""
    return service.split.versions == (version_id,)


class VersionActions:
    """Submits stop, start and delete operations for one project."""

    def __init__(
        self,
        backend: VersionBackend,
        runner: OperationRunner,
        *,
        journal: Journal | None,
        identity: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.backend = backend
        self.runner = runner
        self.journal = journal
        self.identity = identity
        self.clock = clock

    def set_serving(self, service_id: str, version_id: str, serving: bool) -> Operation:
        status = ServingStatus.SERVING if serving else ServingStatus.STOPPED
        verb = "Start" if serving else "Stop"
        kind = "start-version" if serving else "stop-version"

        def action(op: Operation) -> Outcome:
            try:
                name = self.backend.set_serving_status(
                    service_id, version_id, status, progress=op.report
                )
            except AdminError as error:
                return Outcome(
                    outcome_for_error(error),
                    error.message,
                    operation_name=error.operation_name,
                )
            return self._read_back_status(service_id, version_id, status, name)

        return self._submit(
            kind,
            f"{verb} version {version_id} of {service_id}",
            service_id,
            version_id,
            action,
        )

    def delete(self, service_id: str, version_id: str) -> Operation:
        def action(op: Operation) -> Outcome:
            op.report(f"Reading the live split of {service_id}.")
            try:
                service = self.backend.get_service(service_id)
            except AdminError as error:
                return Outcome(outcome_for_error(error), error.message)
            problems = delete_problems(service, version_id)
            if problems:
                return Outcome(
                    OutcomeStatus.REFUSED,
                    " ".join(problems),
                    server_split=service.split,
                )
            try:
                name = self.backend.delete_version(
                    service_id, version_id, progress=op.report
                )
            except AdminError as error:
                return Outcome(
                    outcome_for_error(error),
                    error.message,
                    operation_name=error.operation_name,
                )
            return Outcome(
                OutcomeStatus.SUCCEEDED,
                f"Version {version_id} of {service_id} was deleted.",
                operation_name=name,
            )

        return self._submit(
            "delete-version",
            f"Delete version {version_id} of {service_id}",
            service_id,
            version_id,
            action,
        )

    def _read_back_status(
        self, service_id: str, version_id: str, wanted: ServingStatus, name: str
    ) -> Outcome:
        try:
            versions = self.backend.list_versions(service_id, with_instances=False)
        except AdminError:
            return Outcome(
                OutcomeStatus.SUCCEEDED,
                f"The operation {name} finished, but {version_id} could not be "
                "read back; refresh to see it.",
                operation_name=name,
            )
        status = next((v.serving_status for v in versions if v.id == version_id), None)
        shown = status.value.lower() if status else "missing"
        message = f"Version {version_id} of {service_id} is now {shown}."
        if status is not wanted:
            message += f" That is not what was asked ({wanted.value.lower()})."
        return Outcome(OutcomeStatus.SUCCEEDED, message, operation_name=name)

    def _submit(
        self,
        kind: str,
        description: str,
        service_id: str,
        version_id: str,
        action: Callable[[Operation], Outcome],
    ) -> Operation:
        def run(op: Operation) -> Outcome:
            started = self.clock()
            outcome = action(op)
            self._record(kind, service_id, version_id, started, outcome)
            return outcome

        operation = Operation(
            kind=kind,
            description=description,
            target=f"{service_id}/{version_id}",
            action=run,
        )
        return self.runner.submit(operation)

    def _record(
        self,
        kind: str,
        service_id: str,
        version_id: str,
        started: float,
        outcome: Outcome,
    ) -> None:
        if self.journal is None:
            return
        row = JournalRow(
            time=datetime.fromtimestamp(started, timezone.utc),
            identity=self.identity,
            project=self.backend.project,
            service=service_id,
            action=kind,
            target=f"{service_id}/{version_id}",
            split_before=None,
            split_requested=None,
            split_after=outcome.server_split,
            migrate=False,
            operation_name=outcome.operation_name,
            outcome=outcome.status.value,
            error="" if outcome.succeeded else outcome.message,
        )
        try:
            self.journal.append(row)
        except Exception:  # noqa: BLE001 - the action happened; say so loudly
            log.exception(
                "Could not journal %s of %s/%s.", kind, service_id, version_id
            )
