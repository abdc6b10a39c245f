"""Choosing how a guarded rollout goes: steps, hold, thresholds, smoke."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from deployconsole.core.rollout_model import GuardConfigError, GuardSettings
from deployconsole.core.smoke import SmokePlan
from deployconsole.ui.dialogs import problem_label


class RolloutDialog(QDialog):
    """The settings of one guarded rollout, checked before it starts."""

    def __init__(
        self, service_id: str, version_id: str, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("rolloutDialog")
        self.setWindowTitle(f"Guarded rollout of {version_id}")
        defaults = GuardSettings()
        layout = QVBoxLayout(self)
        layout.addWidget(
            QLabel(
                f"Check <b>{version_id}</b>, then move the traffic of "
                f"<b>{service_id}</b> to it in steps, and roll back by itself if "
                "it does worse than the versions serving now."
            )
        )
        form = QFormLayout()
        self.steps = QLineEdit(", ".join(f"{s:g}" for s in defaults.steps))
        form.addRow("Steps (% of traffic)", self.steps)
        self.hold = QDoubleSpinBox()
        self.hold.setRange(1, 3600)
        self.hold.setSuffix(" s")
        self.hold.setValue(defaults.hold_seconds)
        form.addRow("Hold each step", self.hold)
        self.max_ratio = QDoubleSpinBox()
        self.max_ratio.setRange(0.0, 100.0)
        self.max_ratio.setDecimals(1)
        self.max_ratio.setSuffix(" %")
        self.max_ratio.setValue(defaults.max_error_ratio * 100)
        form.addRow("Fail above a 5xx ratio of", self.max_ratio)
        self.factor = QDoubleSpinBox()
        self.factor.setRange(1.0, 100.0)
        self.factor.setValue(defaults.factor)
        self.factor.setSuffix(" × the baseline's")
        form.addRow("…and above", self.factor)
        self.min_requests = QSpinBox()
        self.min_requests.setRange(1, 1_000_000)
        self.min_requests.setValue(defaults.min_requests)
        form.addRow("Over at least (requests)", self.min_requests)
        self.smoke_paths = QLineEdit("/")
        form.addRow("Smoke check paths", self.smoke_paths)
        self.skip_smoke = QCheckBox("Skip the smoke check")
        form.addRow("", self.skip_smoke)
        layout.addLayout(form)
        self.problem = problem_label()
        layout.addWidget(self.problem)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Start")
        self.buttons.accepted.connect(self._on_accepted)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.settings: GuardSettings | None = None

    def build_settings(self) -> GuardSettings:
        """The settings as entered; GuardConfigError says what is wrong."""
        try:
            steps = tuple(
                float(part)
                for part in self.steps.text().replace(" ", "").split(",")
                if part
            )
        except ValueError:
            raise GuardConfigError(
                "Steps are percentages separated by commas, such as 1, 10, 50, 100."
            ) from None
        smoke = None
        if not self.skip_smoke.isChecked():
            paths = tuple(
                p.strip() for p in self.smoke_paths.text().split(",") if p.strip()
            )
            smoke = SmokePlan(paths=paths or ("/",))
        return GuardSettings(
            steps=steps,
            hold_seconds=self.hold.value(),
            max_error_ratio=self.max_ratio.value() / 100,
            factor=self.factor.value(),
            min_requests=self.min_requests.value(),
            smoke=smoke,
        )

    def _on_accepted(self) -> None:
        try:
            self.settings = self.build_settings()
        except (GuardConfigError, ValueError) as error:
            self.problem.setText(str(error))
            return
        self.accept()
