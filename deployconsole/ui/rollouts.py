"""Starting, resuming and watching guarded rollouts from the window, and
drafting the incident report.

The guard watches the same live log pipeline as the window's error panels
(one tail per project), and changes traffic through the session's traffic
controller, so its steps land in the journal and the history like any
other change.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QMessageBox, QTabWidget, QWidget

from deployconsole.core.report import draft_report
from deployconsole.core.rollout import RolloutGuard
from deployconsole.core.rollout_model import GuardSettings
from deployconsole.core.rollout_store import RolloutRecord, RolloutStore
from deployconsole.gcp.report_wiring import gather_incident
from deployconsole.ui.report_dialog import ReportDialog
from deployconsole.ui.rollout_dialog import RolloutDialog
from deployconsole.ui.rollout_panel import RolloutPanel
from deployconsole.ui.session import ConsoleSession
from deployconsole.ui.tasks import TaskRunner

log = logging.getLogger("deployconsole.ui")

# How far back a report drafted from the window looks.
REPORT_LOOKBACK_SECONDS = 3 * 3600


class GuardedRollouts(QObject):
    """Signals:
    rollout_started(object): a RolloutPanel whose guard is running.
    report_drafted(object): a ReportDialog that was opened.
    problem(str): a rollout could not start; the message says why.
    """

    rollout_started = Signal(object)
    report_drafted = Signal(object)
    problem = Signal(str)

    def __init__(
        self,
        window: QWidget,
        tabs: QTabWidget,
        session: ConsoleSession,
        tasks: TaskRunner,
        pipeline: Callable[[], Any],
    ) -> None:
        super().__init__(window)
        self.window = window
        self.tabs = tabs
        self.session = session
        self.tasks = tasks
        self.pipeline = pipeline
        self.store = RolloutStore(session.journal.path)
        self.panels: list[RolloutPanel] = []
        self._offered = False

    # -- starting ----------------------------------------------------------

    def ask_and_start(self, service_id: str, version_id: str) -> RolloutDialog:
        dialog = RolloutDialog(service_id, version_id, self.window)

        def on_accepted() -> None:
            if dialog.settings is not None:
                self.start(service_id, version_id, dialog.settings)

        dialog.accepted.connect(on_accepted)
        dialog.open()
        return dialog

    def start(self, service_id: str, version_id: str, settings: GuardSettings) -> None:
        guard = self._guard(service_id, version_id, settings)
        self.tasks.submit(
            lambda: guard.prepare(),
            lambda _: self._run(guard),
            lambda error: self._refused(version_id, error),
        )

    def _guard(
        self, service_id: str, version_id: str, settings: GuardSettings | None
    ) -> RolloutGuard:
        return RolloutGuard(
            self.session.traffic,
            self.pipeline(),
            service_id,
            version_id,
            settings,
            store=self.store,
        )

    def _run(self, guard: RolloutGuard) -> None:
        panel = RolloutPanel(guard)
        panel.report_requested.connect(self.draft_report)
        self.panels.append(panel)
        index = self.tabs.addTab(panel, f"Rollout: {guard.candidate}")
        self.tabs.setCurrentIndex(index)
        guard.start()
        self.rollout_started.emit(panel)

    def _refused(self, version_id: str, error: Exception) -> None:
        message = getattr(error, "message", None) or str(error)
        log.warning("Guarded rollout of %s not started: %s", version_id, message)
        self.problem.emit(message)
        box = QMessageBox(
            QMessageBox.Icon.Warning,
            "Guarded rollout not started",
            message,
            QMessageBox.StandardButton.Ok,
            self.window,
        )
        box.open()

    # -- unfinished rollouts -----------------------------------------------

    def offer_unfinished(self) -> None:
        """Once per window: offer to resume or abort rollouts a stopped
        console left unfinished."""
        if self._offered:
            return
        self._offered = True
        project = self.session.project
        self.tasks.submit(
            lambda: self.store.unfinished(project),
            self._on_unfinished,
            lambda error: log.warning("Unfinished rollouts not read: %s", error),
        )

    def _on_unfinished(self, records: list[RolloutRecord]) -> None:
        for record in records:
            if not record.stale(time.time()):
                continue  # another console is running it
            box = QMessageBox(self.window)
            box.setObjectName("unfinishedRollout")
            box.setWindowTitle("Unfinished guarded rollout")
            box.setText(
                f"A guarded rollout of {record.candidate} in {record.service} "
                f"was left at {record.state} (step {record.step + 1}) when its "
                "console stopped. Resume it, or abort it and restore the split "
                "from before it?"
            )
            resume = box.addButton("Resume", QMessageBox.ButtonRole.AcceptRole)
            box.addButton("Abort and restore", QMessageBox.ButtonRole.DestructiveRole)
            box.finished.connect(
                lambda _, b=box, r=record, res=resume: self.adopt(
                    r, "resume" if b.clickedButton() is res else "abort"
                )
            )
            box.open()

    def adopt(self, record: RolloutRecord, action: str) -> None:
        guard = self._guard(record.service, record.candidate, None)
        self.tasks.submit(
            lambda: guard.adopt(record, action),
            lambda _: self._run(guard),
            lambda error: self._refused(record.candidate, error),
        )

    # -- report ------------------------------------------------------------

    def draft_report(self, service_id: str) -> None:
        endpoint = self.session.endpoint
        journal = self.session.journal
        store = self.store
        until = time.time()
        since = until - REPORT_LOOKBACK_SECONDS

        def gather() -> str:
            incident = gather_incident(
                endpoint, service_id, since, until, journal=journal, store=store
            )
            return draft_report(incident)

        self.tasks.submit(
            gather,
            lambda markdown: self._show_report(service_id, markdown),
            lambda error: self.problem.emit(
                f"The report could not be drafted: "
                f"{getattr(error, 'message', None) or error}"
            ),
        )

    def _show_report(self, service_id: str, markdown: str) -> None:
        dialog = ReportDialog(service_id, markdown, self.window)
        dialog.open()
        self.report_drafted.emit(dialog)

    def running(self) -> list[RolloutGuard]:
        """Guards that have not ended; closing the window leaves them
        recorded as unfinished, and the next start offers to resume them."""
        return [panel.guard for panel in self.panels if panel.result is None]
