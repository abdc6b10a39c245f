"""Editing a service's split by hand: several versions, shard_by, migration."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from deployconsole.core.appmodel import ServiceInfo, VersionInfo
from deployconsole.core.split import ShardBy


class SplitEditorDialog(QDialog):
    """Weights per version in percent; rounded like gcloud when applied."""

    def __init__(
        self,
        service: ServiceInfo,
        versions: list[VersionInfo],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("splitEditor")
        self.setWindowTitle(f"Traffic split of {service.id}")
        self.service = service
        self.versions = versions
        layout = QVBoxLayout(self)

        self.table = QTableWidget(len(versions), 3, self)
        self.table.setHorizontalHeaderLabels(["Version", "Status", "Traffic %"])
        self.table.verticalHeader().hide()
        self.spins: dict[str, QDoubleSpinBox] = {}
        for row, version in enumerate(versions):
            self.table.setItem(row, 0, QTableWidgetItem(version.id))
            self.table.setItem(
                row, 1, QTableWidgetItem(version.serving_status.value.lower())
            )
            spin = QDoubleSpinBox()
            spin.setRange(0.0, 100.0)
            spin.setDecimals(1)
            spin.setSuffix(" %")
            spin.setValue(round(service.split.allocation(version.id) * 100, 1))
            spin.valueChanged.connect(self._on_changed)
            self.spins[version.id] = spin
            self.table.setCellWidget(row, 2, spin)
        self.table.resizeColumnsToContents()
        layout.addWidget(self.table)

        form = QFormLayout()
        self.shard_by = QComboBox()
        for shard_by in (ShardBy.IP, ShardBy.COOKIE, ShardBy.RANDOM):
            self.shard_by.addItem(shard_by.label, shard_by)
        current = service.split.shard_by
        if current is ShardBy.UNSPECIFIED:
            current = ShardBy.IP
        self.shard_by.setCurrentIndex(self.shard_by.findData(current))
        form.addRow("Split by", self.shard_by)
        self.migrate = QCheckBox("Migrate gradually (one target version with warmup)")
        form.addRow("", self.migrate)
        layout.addLayout(form)

        self.total = QLabel()
        layout.addWidget(self.total)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Review…")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self._on_changed()

    def weights(self) -> dict[str, float]:
        """Versions with a non-zero weight, in percent (normalised later)."""
        return {v: spin.value() for v, spin in self.spins.items() if spin.value() > 0}

    def chosen_shard_by(self) -> ShardBy:
        value = self.shard_by.currentData()
        return value if isinstance(value, ShardBy) else ShardBy.IP

    def set_weight(self, version_id: str, percent: float) -> None:
        self.spins[version_id].setValue(percent)

    def _on_changed(self) -> None:
        total = sum(spin.value() for spin in self.spins.values())
        text = f"Total: {total:.1f} %"
        if total and abs(total - 100.0) > 0.05:
            text += " (weights are scaled to 100 % when applied)"
        self.total.setText(text)
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setEnabled(total > 0)
