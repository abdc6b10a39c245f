"""The console's actions on versions and traffic, and their flow.

Every change follows one path: plan off the GUI thread (reads only), show a
confirmation with before → after, submit one operation to the serial
runner, show its progress, then show the outcome the server reports and
refresh. A split that changed since it was shown comes back as a new
confirmation with the difference; nothing was sent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMessageBox, QWidget

from deployconsole.core.appmodel import ServiceInfo, VersionInfo
from deployconsole.core.operations import Operation, Outcome, OutcomeStatus
from deployconsole.core.traffic import TrafficPlan
from deployconsole.core.version_actions import delete_problems, serves_last_traffic
from deployconsole.ui.dialogs import ConfirmDialog
from deployconsole.ui.session import ConsoleSession
from deployconsole.ui.split_editor import SplitEditorDialog
from deployconsole.ui.tasks import TaskRunner

log = logging.getLogger("deployconsole.ui")

Selection = tuple[ServiceInfo | None, VersionInfo | None]
Planner = Callable[[], TrafficPlan]


class ConsoleActions(QObject):
    """Owns the QActions and runs their flows.

    Signals:
        confirmation_shown(object): a ConfirmDialog was opened (tests and the
            alert banner's "Roll back" use it).
        message_shown(str, str): a title and text told to the user (refusals,
            failures), in a dialog that does not block.
        rollout_requested(str, str): a guarded rollout of (service, version)
            was asked for.
        report_requested(str): an incident report of the service was asked for.
        operation_started(object): an Operation was submitted.
        operation_ended(object, object): an Operation and its Outcome.
        refresh_needed(): the server changed; read it again.
    """

    confirmation_shown = Signal(object)
    message_shown = Signal(str, str)
    rollout_requested = Signal(str, str)
    report_requested = Signal(str)
    operation_started = Signal(object)
    operation_ended = Signal(object, object)
    refresh_needed = Signal()

    def __init__(
        self,
        window: QWidget,
        session: ConsoleSession,
        tasks: TaskRunner,
        selection: Callable[[], Selection],
        versions_of: Callable[[str], list[VersionInfo]],
    ) -> None:
        super().__init__(window)
        self.window = window
        self.session = session
        self.tasks = tasks
        self.selection = selection
        self.versions_of = versions_of
        self.read_only_reason = ""
        session.operation_finished.connect(self._on_operation_finished)

        def action(text: str, shortcut: str, slot: Callable[[], None]) -> QAction:
            act = QAction(text, window)
            act.setShortcut(QKeySequence(shortcut))
            act.triggered.connect(slot)
            window.addAction(act)
            return act

        self.send_all = action("Send all traffic here", "Ctrl+P", self.send_all_traffic)
        self.rollback = action("Roll back", "Ctrl+Z", self.roll_back_selected)
        self.edit_split = action("Edit split…", "Ctrl+E", self.edit_selected_split)
        self.stop = action("Stop version", "Ctrl+Shift+X", lambda: self._serving(False))
        self.start = action(
            "Start version", "Ctrl+Shift+S", lambda: self._serving(True)
        )
        self.delete = action("Delete version", "Del", self.delete_selected)
        self.guard = action("Guarded rollout…", "Ctrl+G", self._request_rollout)
        self.report = action(
            "Draft incident report", "Ctrl+Shift+R", self._request_report
        )
        self.report.setStatusTip("Draft the selected service's incident report")
        self.mutations = [
            self.send_all,
            self.rollback,
            self.edit_split,
            self.stop,
            self.start,
            self.delete,
            self.guard,
        ]
        for act, tip in zip(
            self.mutations,
            (
                "Give the selected version 100% of its service's traffic",
                "Restore the split that was live before the service's latest change",
                "Set several versions' shares, the sharding and migration",
                "Stop the selected version (its instances shut down)",
                "Start the selected version again",
                "Delete the selected version (refused while it has traffic)",
                "Check the selected version, move traffic to it in steps, and "
                "roll back by itself if it does worse",
            ),
            strict=True,
        ):
            act.setStatusTip(tip)
            act.setToolTip(f"{tip} ({act.shortcut().toString()})")
        self._tooltips = {act: act.toolTip() for act in self.mutations}
        self.update_enabled()

    # -- enabling ----------------------------------------------------------

    def set_read_only(self, reason: str) -> None:
        self.read_only_reason = reason
        self.update_enabled()

    def update_enabled(self) -> None:
        service, version = self.selection()
        for act in self.mutations:
            act.setEnabled(not self.read_only_reason)
            act.setToolTip(self.read_only_reason or self._tooltips[act])
        if self.read_only_reason:
            return
        self.send_all.setEnabled(version is not None)
        self.stop.setEnabled(version is not None and version.serving)
        self.start.setEnabled(version is not None and not version.serving)
        self.delete.setEnabled(version is not None)
        self.rollback.setEnabled(service is not None)
        self.edit_split.setEnabled(service is not None)
        self.guard.setEnabled(version is not None)
        self.report.setEnabled(service is not None)

    # -- traffic -----------------------------------------------------------

    def send_all_traffic(self) -> None:
        service, version = self.selection()
        if service is None or version is None:
            return
        traffic = self.session.traffic
        self._plan_and_confirm(lambda: traffic.plan_send_all(service.id, version.id))

    def roll_back_selected(self) -> None:
        service, _ = self.selection()
        if service is not None:
            self.roll_back(service.id)

    def roll_back(self, service_id: str) -> None:
        """Roll back ``service_id``: straight to the confirmation."""
        traffic = self.session.traffic
        self._plan_and_confirm(lambda: traffic.plan_rollback(service_id))

    def edit_selected_split(self) -> None:
        service, _ = self.selection()
        if service is None:
            return
        editor = SplitEditorDialog(service, self.versions_of(service.id), self.window)

        def on_accepted() -> None:
            weights = editor.weights()
            shard_by = editor.chosen_shard_by()
            migrate = editor.migrate.isChecked()
            traffic = self.session.traffic
            self._plan_and_confirm(
                lambda: traffic.plan(
                    service.id, weights, shard_by=shard_by, migrate=migrate
                )
            )

        editor.accepted.connect(on_accepted)
        editor.open()

    def _plan_and_confirm(self, planner: Planner, heading: str | None = None) -> None:
        self.tasks.submit(
            planner,
            lambda plan: self._confirm(plan, planner, heading),
            lambda error: self._show_error("Could not prepare the change", error),
        )

    def _confirm(
        self, plan: TrafficPlan, planner: Planner, heading: str | None
    ) -> None:
        if plan.refused:
            self._tell(
                "App Engine would refuse this",
                f"{plan.description}.\n\nNothing was sent:\n"
                + "\n".join(f"• {problem}" for problem in plan.problems),
            )
            return
        if plan.unchanged:
            self._tell(
                "Nothing to change",
                f"{plan.service_id} already serves {plan.before.describe()}.",
            )
            return
        dialog = ConfirmDialog.for_plan(
            plan,
            production=self.session.production,
            parent=self.window,
            heading=heading,
        )
        dialog.accepted.connect(lambda: self._apply(plan, planner))
        dialog.open()
        self.confirmation_shown.emit(dialog)

    def _apply(self, plan: TrafficPlan, planner: Planner) -> None:
        operation = self.session.traffic.apply(plan)
        operation.on_finished(
            lambda op, outcome: self.tasks.post(
                lambda: self._after_traffic(outcome, planner)
            )
        )
        self.operation_started.emit(operation)

    def _after_traffic(self, outcome: Outcome, planner: Planner) -> None:
        if outcome.status is OutcomeStatus.CHANGED:
            # Nothing was sent: plan again from the live split and ask again.
            self._plan_and_confirm(
                planner,
                heading="The split changed since it was shown; nothing was sent. "
                "Review the live split and confirm again.",
            )

    def _request_rollout(self) -> None:
        service, version = self.selection()
        if service is not None and version is not None:
            self.rollout_requested.emit(service.id, version.id)

    def _request_report(self) -> None:
        service, _ = self.selection()
        if service is not None:
            self.report_requested.emit(service.id)

    # -- versions ----------------------------------------------------------

    def _serving(self, serving: bool) -> None:
        service, version = self.selection()
        if service is None or version is None:
            return
        verb = "Start" if serving else "Stop"
        notes = []
        if not serving and service.split.allocation(version.id) > 0:
            notes.append(
                f"Warning: {version.id} has traffic; requests routed to it will "
                "fail while it is stopped."
            )
        self._confirm_version_action(
            f"{verb} version {version.id} of {service.id}?",
            notes,
            verb,
            lambda: self.session.versions.set_serving(service.id, version.id, serving),
        )

    def delete_selected(self) -> None:
        service, version = self.selection()
        if service is None or version is None:
            return
        problems = delete_problems(service, version.id)
        if problems:
            self._tell("Cannot delete", " ".join(problems))
            return
        notes = ["Deleting a version cannot be undone."]
        versions = self.versions_of(service.id)
        if len(versions) == 1 or serves_last_traffic(service, version.id):
            notes.append(
                f"Warning: {version.id} is the last version of {service.id} that "
                "served traffic."
            )
        self._confirm_version_action(
            f"Delete version {version.id} of {service.id}?",
            notes,
            "Delete",
            lambda: self.session.versions.delete(service.id, version.id),
        )

    def _confirm_version_action(
        self,
        description: str,
        notes: list[str],
        verb: str,
        submit: Callable[[], Operation],
    ) -> None:
        dialog = ConfirmDialog(
            f"Confirm: {verb.lower()}",
            description,
            notes=notes,
            project_to_type=self.session.project if self.session.production else None,
            confirm_text=verb,
            parent=self.window,
        )
        dialog.accepted.connect(lambda: self.operation_started.emit(submit()))
        dialog.open()
        self.confirmation_shown.emit(dialog)

    # -- outcomes ----------------------------------------------------------

    def _on_operation_finished(self, operation: Operation, outcome: Outcome) -> None:
        self.operation_ended.emit(operation, outcome)
        self.refresh_needed.emit()
        if outcome.succeeded or outcome.status is OutcomeStatus.CHANGED:
            return
        self._tell(
            f"{operation.description}: {outcome.status.value}",
            outcome.message
            + (
                f"\n\nThe server now has: {outcome.server_split.describe()}"
                if outcome.server_split
                else ""
            ),
        )

    def _show_error(self, what: str, error: Exception) -> None:
        message = getattr(error, "message", None) or str(error)
        log.warning("%s: %s", what, message)
        self._tell(what, message)

    def _tell(self, title: str, text: str) -> None:
        box = QMessageBox(
            QMessageBox.Icon.Warning,
            title,
            text,
            QMessageBox.StandardButton.Ok,
            self.window,
        )
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        self.message_shown.emit(title, text)
