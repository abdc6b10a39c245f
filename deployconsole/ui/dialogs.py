"""Confirmation before any change: the split before → after.

Projects marked production ask for the project id to be typed before the
confirm button is enabled.
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from deployconsole.core.split import Split, format_fraction
from deployconsole.core.traffic import TrafficPlan


def problem_label() -> QLabel:
    """The line under a form that says, in red, what is wrong with it."""
    label = QLabel("")
    label.setObjectName("problemLabel")
    label.setStyleSheet("color: #a50e0e;")
    label.setWordWrap(True)
    return label


def _allocation_text(split: Split, version_id: str) -> str:
    allocation = split.allocation(version_id)
    return format_fraction(allocation) if allocation else "—"


class ConfirmDialog(QDialog):
    """Asks to confirm one change, showing exactly what will differ."""

    def __init__(
        self,
        title: str,
        description: str,
        *,
        before: Split | None = None,
        after: Split | None = None,
        notes: list[str] | None = None,
        project_to_type: str | None = None,
        confirm_text: str = "Apply",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setObjectName("confirmDialog")
        layout = QVBoxLayout(self)
        self.heading = QLabel(description)
        self.heading.setObjectName("confirmHeading")
        self.heading.setWordWrap(True)
        font = self.heading.font()
        font.setBold(True)
        self.heading.setFont(font)
        layout.addWidget(self.heading)

        self.table: QTableWidget | None = None
        if before is not None and after is not None:
            self.table = self._split_table(before, after)
            layout.addWidget(self.table)
            shard = before.shard_by.label
            if after.shard_by != before.shard_by:
                shard = f"{before.shard_by.label} → {after.shard_by.label}"
            layout.addWidget(QLabel(f"Split by {shard}."))

        for note in notes or []:
            label = QLabel(note)
            label.setWordWrap(True)
            layout.addWidget(label)

        self.project_edit: QLineEdit | None = None
        self._project = project_to_type
        if project_to_type:
            layout.addWidget(
                QLabel(
                    f"<b>{project_to_type}</b> is a production project. Type its id "
                    "to confirm:"
                )
            )
            self.project_edit = QLineEdit()
            self.project_edit.setObjectName("projectConfirmation")
            self.project_edit.setPlaceholderText(project_to_type)
            self.project_edit.textChanged.connect(self._on_typed)
            layout.addWidget(self.project_edit)

        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setText(confirm_text)
        ok.setEnabled(project_to_type is None)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)

    @classmethod
    def for_plan(
        cls,
        plan: TrafficPlan,
        *,
        production: bool,
        parent: QWidget | None = None,
        heading: str | None = None,
    ) -> ConfirmDialog:
        notes = []
        if plan.migrate:
            notes.append("Traffic moves gradually (migration).")
        notes.extend(f"Warning: {warning}" for warning in plan.warnings)
        return cls(
            "Confirm traffic change",
            heading or plan.description,
            before=plan.before,
            after=plan.after,
            notes=notes,
            project_to_type=plan.project if production else None,
            parent=parent,
        )

    def confirm_button_enabled(self) -> bool:
        return self.buttons.button(QDialogButtonBox.StandardButton.Ok).isEnabled()

    def _on_typed(self, text: str) -> None:
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setEnabled(text.strip() == self._project)

    def _split_table(self, before: Split, after: Split) -> QTableWidget:
        versions = sorted(set(before.versions) | set(after.versions))
        table = QTableWidget(len(versions), 3, self)
        table.setObjectName("splitTable")
        table.setHorizontalHeaderLabels(["Version", "Before", "After"])
        table.verticalHeader().hide()
        table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        for row, version in enumerate(versions):
            was = _allocation_text(before, version)
            will = _allocation_text(after, version)
            cells = (version, was, f"→ {will}" if was != will else will)
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if was != will:
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                table.setItem(row, column, item)
        table.resizeColumnsToContents()
        table.setMinimumHeight(min(300, 30 + 26 * len(versions)))
        return table
