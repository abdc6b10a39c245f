"""The traffic history of the selected service: journal and audit log."""

from __future__ import annotations

import io
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from deployconsole.core.history import TrafficChange
from deployconsole.core.journal import Journal, export_csv, export_json

_COLUMNS = ("Time (UTC)", "Who", "Source", "Action", "Before", "After", "Outcome")


class HistoryModel(QAbstractTableModel):
    """Newest change first; replaced only when the history differs."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._changes: list[TrafficChange] = []

    def set_changes(self, changes: list[TrafficChange]) -> None:
        newest_first = list(reversed(changes))
        if newest_first == self._changes:
            return
        self.beginResetModel()
        self._changes = newest_first
        self.endResetModel()

    def change_at(self, row: int) -> TrafficChange:
        return self._changes[row]

    def rowCount(
        self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()
    ) -> int:
        return 0 if parent.isValid() else len(self._changes)

    def columnCount(
        self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()
    ) -> int:
        return len(_COLUMNS)

    def headerData(
        self,
        section: int,
        orientation: Qt.Orientation,
        role: int = Qt.ItemDataRole.DisplayRole,
    ) -> Any:
        horizontal = orientation == Qt.Orientation.Horizontal
        if horizontal and role == Qt.ItemDataRole.DisplayRole:
            return _COLUMNS[section]
        return None

    def data(
        self,
        index: QModelIndex | QPersistentModelIndex,
        role: int = Qt.ItemDataRole.DisplayRole,
    ) -> Any:
        if not index.isValid():
            return None
        change = self._changes[index.row()]
        if role == Qt.ItemDataRole.ToolTipRole:
            return change.error or change.operation_name or None
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        column = index.column()
        if column == 0:
            return change.time.strftime("%Y-%m-%d %H:%M:%S")
        if column == 1:
            return change.who
        if column == 2:
            return change.source.value
        if column == 3:
            return change.action + (" (migrate)" if change.migrate else "")
        if column == 4:
            return change.before.describe() if change.before else "unknown"
        if column == 5:
            return change.after.describe()
        return change.outcome


class HistoryPanel(QWidget):
    """Signals:
    refresh_requested(): the user asked to read the history again.
    """

    refresh_requested = Signal()

    def __init__(self, journal: Journal, project: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.journal = journal
        self.project = project
        self.model = HistoryModel(self)
        self.view = QTableView(self)
        self.view.setObjectName("historyTable")
        self.view.setModel(self.model)
        self.view.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.view.verticalHeader().hide()
        self.view.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents
        )
        self.view.horizontalHeader().setStretchLastSection(True)
        self.title = QLabel("History")
        self.status = QLabel("")
        export_csv_button = QPushButton("Export CSV…")
        export_json_button = QPushButton("Export JSON…")
        export_csv_button.clicked.connect(lambda: self._export("csv"))
        export_json_button.clicked.connect(lambda: self._export("json"))

        header = QHBoxLayout()
        header.addWidget(self.title)
        header.addStretch(1)
        header.addWidget(self.status)
        header.addWidget(export_csv_button)
        header.addWidget(export_json_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(header)
        layout.addWidget(self.view)

    def show_history(self, service_id: str, changes: list[TrafficChange]) -> None:
        self.title.setText(f"Traffic history of <b>{service_id}</b>")
        self.status.setText("")
        self.model.set_changes(changes)

    def show_error(self, message: str) -> None:
        self.status.setText(f"History not read: {message}")

    def journal_text(self, kind: str) -> str:
        rows = self.journal.rows(project=self.project)
        out = io.StringIO()
        (export_csv if kind == "csv" else export_json)(rows, out)
        return out.getvalue()

    def _export(self, kind: str) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self,
            "Export the journal",
            f"deployconsole-journal.{kind}",
            "CSV (*.csv)" if kind == "csv" else "JSON (*.json)",
        )
        if not path:
            return
        with open(path, "w", encoding="utf-8", newline="") as out:
            out.write(self.journal_text(kind))
        self.status.setText(f"Journal exported to {path}")
