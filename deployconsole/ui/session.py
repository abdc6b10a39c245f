"""One open project: its clients, operation runner, journal and controllers.

The session is the GUI's handle on core and gcp. Operation callbacks arrive
on the runner's thread; the session re-emits them as signals, which Qt
delivers on the GUI thread.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from deployconsole.core.journal import Journal, local_identity
from deployconsole.core.operations import Operation, OperationRunner, Outcome, Progress
from deployconsole.core.traffic import TrafficController
from deployconsole.core.version_actions import VersionActions
from deployconsole.gcp.admin import AdminClient
from deployconsole.gcp.audit import AuditReader
from deployconsole.gcp.channel import Endpoint

log = logging.getLogger("deployconsole.ui")


class ConsoleSession(QObject):
    """Signals:
    operation_progressed(object, object): an Operation and its latest Progress.
    operation_finished(object, object): an Operation and its Outcome.
    """

    operation_progressed = Signal(object, object)
    operation_finished = Signal(object, object)

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        journal_path: Path | None = None,
        production: bool = False,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.endpoint = endpoint
        self.production = production
        self.identity = local_identity()
        self.admin = AdminClient(endpoint)
        self.audit = AuditReader(endpoint)
        self.journal = Journal(journal_path)
        self.runner = OperationRunner(
            on_progress=self._relay_progress, on_finished=self._relay_finished
        )
        self.traffic = TrafficController(
            self.admin,
            self.runner,
            journal=self.journal,
            identity=self.identity,
            audit=self.audit,
        )
        self.versions = VersionActions(
            self.admin, self.runner, journal=self.journal, identity=self.identity
        )

    @property
    def project(self) -> str:
        return self.endpoint.project

    def _relay_progress(self, operation: Operation, progress: Progress) -> None:
        self.operation_progressed.emit(operation, progress)

    def _relay_finished(self, operation: Operation, outcome: Outcome) -> None:
        self.operation_finished.emit(operation, outcome)

    def close(self) -> None:
        self.runner.shutdown(wait=True, timeout=5.0)
        self.admin.close()
        self.audit.close()
