"""The guarded rollout panel: plan, current step, live comparison, checks,
and the controls (pause, resume, promote now, abort).

The guard runs on its own thread; its events are re-emitted here as a
signal, which Qt delivers on the GUI thread, so widgets are only touched
there.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from deployconsole.core.rollout import RolloutGuard
from deployconsole.core.rollout_model import (
    EventKind,
    GuardEvent,
    GuardResult,
    GuardState,
    describe_share,
)

log = logging.getLogger("deployconsole.ui")

_GOOD = "color: #137333;"
_BAD = "color: #a50e0e;"


class GuardRelay(QObject):
    """Hands a guard's events to the GUI thread.

    Signals:
        event_received(object): a GuardEvent.
    """

    event_received = Signal(object)

    def __init__(self, guard: RolloutGuard, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.guard = guard
        guard.subscribe(self._on_event)

    def _on_event(self, event: GuardEvent) -> None:
        # Runs on the guard's thread: only hand over.
        self.event_received.emit(event)

    def result_after(self, event: GuardEvent) -> GuardResult | None:
        """On the GUI thread: the result once FINISHED has been announced.

        The guard announces FINISHED just before it stores its result, so
        the wait is a moment at most.
        """
        if event.kind is not EventKind.FINISHED:
            return None
        return self.guard.wait(5.0)


class RolloutPanel(QWidget):
    """Shows one guarded rollout and drives its controls.

    Signals:
        report_requested(str): draft the incident report of this service.
        finished(object): the GuardResult, once the rollout has ended.
    """

    report_requested = Signal(str)
    finished = Signal(object)

    def __init__(self, guard: RolloutGuard, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("rolloutPanel")
        self.guard = guard
        self.relay = GuardRelay(guard, self)
        self.relay.event_received.connect(self._on_event)
        self.result: GuardResult | None = None

        self.title = QLabel(
            f"<b>Guarded rollout of {guard.candidate}</b> in {guard.service}"
        )
        self.plan = QLabel(guard.settings.describe() + ".")
        self.plan.setWordWrap(True)
        self.state_label = QLabel("Preparing…")
        self.state_label.setObjectName("rolloutState")
        self.state_label.setWordWrap(True)

        self.steps = QListWidget()
        self.steps.setObjectName("rolloutSteps")
        self.steps.setMaximumWidth(180)
        for percent in guard.settings.steps:
            self.steps.addItem(QListWidgetItem(f"{describe_share(percent)}"))

        self.comparison = QLabel("No figures yet.")
        self.comparison.setObjectName("rolloutComparison")
        self.comparison.setWordWrap(True)
        self.checks = QListWidget()
        self.checks.setObjectName("rolloutChecks")

        self.pause_button = QPushButton("Pause")
        self.resume_button = QPushButton("Resume")
        self.promote_button = QPushButton("Promote now")
        self.abort_button = QPushButton("Abort and restore")
        self.report_button = QPushButton("Draft incident report")
        self.pause_button.clicked.connect(guard.pause)
        self.resume_button.clicked.connect(guard.resume)
        self.promote_button.clicked.connect(guard.promote_now)
        self.abort_button.clicked.connect(guard.abort)
        self.report_button.clicked.connect(
            lambda: self.report_requested.emit(guard.service)
        )
        self.resume_button.setEnabled(False)

        comparison_box = QGroupBox("Candidate against baseline (this step)")
        QVBoxLayout(comparison_box).addWidget(self.comparison)
        checks_box = QGroupBox("Smoke checks")
        QVBoxLayout(checks_box).addWidget(self.checks)
        middle = QHBoxLayout()
        middle.addWidget(self.steps)
        right = QVBoxLayout()
        right.addWidget(comparison_box)
        right.addWidget(checks_box)
        middle.addLayout(right, 1)
        controls = QHBoxLayout()
        for button in (
            self.pause_button,
            self.resume_button,
            self.promote_button,
            self.abort_button,
        ):
            controls.addWidget(button)
        controls.addStretch(1)
        controls.addWidget(self.report_button)

        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(self.plan)
        layout.addWidget(self.state_label)
        layout.addLayout(middle, 1)
        layout.addLayout(controls)

    def _on_event(self, event: GuardEvent) -> None:
        result = self.relay.result_after(event)
        if result is not None:
            self._on_finished(result)
            return
        self.state_label.setText(f"{event.state.value}: {event.message}")
        paused = event.state is GuardState.PAUSED
        self.pause_button.setEnabled(not paused and not event.state.final)
        self.resume_button.setEnabled(paused)
        if event.step >= 0:
            self._mark_step(event.step, event.state)
        if event.comparison is not None:
            text = event.comparison.describe()
            hold = self.guard.settings.hold_seconds
            if event.elapsed is not None:
                text += f" (held {event.elapsed:.0f} of {hold:g} s)"
            for group in event.comparison.new_groups:
                text += (
                    f"\nNew in {self.guard.candidate}: {group.headline} ×{group.count}"
                )
            self.comparison.setText(text)
            self.comparison.setStyleSheet(_BAD if event.comparison.failed else "")
        if event.check is not None:
            check = event.check
            item = QListWidgetItem(
                f"{'passed' if check.passed else 'FAILED'} {check.name}: "
                f"{check.message}"
            )
            self.checks.addItem(item)

    def _mark_step(self, index: int, state: GuardState) -> None:
        for row in range(self.steps.count()):
            item = self.steps.item(row)
            font = item.font()
            font.setBold(row == index)
            item.setFont(font)
        if 0 <= index < self.steps.count():
            self.steps.setCurrentRow(index)

    def _on_finished(self, result: GuardResult) -> None:
        self.result = result
        for button in (
            self.pause_button,
            self.resume_button,
            self.promote_button,
            self.abort_button,
        ):
            button.setEnabled(False)
        self.state_label.setText(f"{result.state.value}: {result.reason}")
        self.state_label.setStyleSheet(_GOOD if result.promoted else _BAD)
        self.finished.emit(result)
        log.info(
            "Guarded rollout of %s/%s ended %s: %s",
            self.guard.service,
            self.guard.candidate,
            result.state.value,
            result.reason,
        )
