"""Choosing when the live errors alert: the 5xx ratio rule and new groups."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from deployconsole.core.alerts import AlertSettings
from deployconsole.ui.dialogs import problem_label


class AlertSettingsDialog(QDialog):
    """The alert thresholds, shown as they are and checked before they apply.

    After ``accept()``, ``alerts`` holds the chosen settings.
    """

    def __init__(self, current: AlertSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("alertSettingsDialog")
        self.setWindowTitle("Alert thresholds")
        self.setMinimumWidth(420)
        layout = QVBoxLayout(self)
        intro = QLabel(
            "Alert when a version with traffic fails too many requests, or "
            "when a new error appears in it. The change applies at once, to "
            "the requests that come next."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        form = QFormLayout()
        self.ratio = QDoubleSpinBox()
        self.ratio.setRange(0.1, 100.0)
        self.ratio.setDecimals(1)
        self.ratio.setSingleStep(0.5)
        self.ratio.setSuffix(" %")
        form.addRow("5xx ratio above", self.ratio)
        self.min_requests = QSpinBox()
        self.min_requests.setRange(1, 1_000_000)
        self.min_requests.setSuffix(" requests")
        form.addRow("Of at least", self.min_requests)
        self.window_seconds = QSpinBox()
        self.window_seconds.setRange(1, 24 * 3600)
        self.window_seconds.setSuffix(" s")
        form.addRow("Over the last", self.window_seconds)
        self.new_groups = QCheckBox("Alert on a new error group")
        form.addRow("", self.new_groups)
        layout.addLayout(form)
        self.summary = QLabel("")
        self.summary.setObjectName("alertSettingsSummary")
        self.summary.setWordWrap(True)
        layout.addWidget(self.summary)
        self.problem = problem_label()
        layout.addWidget(self.problem)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok
            | QDialogButtonBox.StandardButton.Cancel
            | QDialogButtonBox.StandardButton.RestoreDefaults
        )
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Apply")
        self.defaults_button = buttons.button(
            QDialogButtonBox.StandardButton.RestoreDefaults
        )
        self.defaults_button.clicked.connect(
            lambda: self.show_settings(AlertSettings())
        )
        buttons.accepted.connect(self._on_accepted)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.buttons = buttons
        self.alerts: AlertSettings | None = None
        for spin in (self.ratio, self.min_requests, self.window_seconds):
            spin.valueChanged.connect(self._update_summary)
        self.new_groups.toggled.connect(self._update_summary)
        self.show_settings(current)

    def show_settings(self, alerts: AlertSettings) -> None:
        self.ratio.setValue(alerts.error_ratio * 100)
        self.min_requests.setValue(round(alerts.min_requests))
        self.window_seconds.setValue(round(alerts.window_seconds))
        self.new_groups.setChecked(alerts.new_group_alerts)
        self._update_summary()

    def build_settings(self) -> AlertSettings:
        """The settings as entered; ValueError says what is wrong."""
        return AlertSettings.from_thresholds(
            error_ratio=self.ratio.value() / 100,
            window_seconds=float(self.window_seconds.value()),
            min_requests=float(self.min_requests.value()),
            new_group_alerts=self.new_groups.isChecked(),
        )

    def _update_summary(self) -> None:
        self._checked()

    def _checked(self) -> AlertSettings | None:
        """The settings as entered, said in a sentence; or None, and why."""
        try:
            alerts = self.build_settings()
        except ValueError as error:
            self.summary.setText("")
            self.problem.setText(f"These thresholds cannot be used: {error}.")
            return None
        self.summary.setText(alerts.describe())
        self.problem.setText("")
        return alerts

    def _on_accepted(self) -> None:
        self.alerts = self._checked()
        if self.alerts is not None:
            self.accept()
