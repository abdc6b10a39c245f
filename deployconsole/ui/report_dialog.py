"""Showing a drafted incident report, to copy or save as Markdown."""

from __future__ import annotations

from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)


class ReportDialog(QDialog):
    def __init__(self, service_id: str, markdown: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("reportDialog")
        self.setWindowTitle(f"Incident report (draft): {service_id}")
        self.resize(900, 700)
        self.service_id = service_id
        self.text = QPlainTextEdit(markdown)
        self.text.setObjectName("reportText")
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        copy = QPushButton("Copy")
        save = QPushButton("Save as Markdown…")
        close = QPushButton("Close")
        copy.clicked.connect(self.copy)
        save.clicked.connect(self._save)
        close.clicked.connect(self.accept)
        buttons = QHBoxLayout()
        buttons.addWidget(copy)
        buttons.addWidget(save)
        buttons.addStretch(1)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text)
        layout.addLayout(buttons)

    def copy(self) -> None:
        QGuiApplication.clipboard().setText(self.text.toPlainText())

    def _save(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self,
            "Save the report",
            f"incident-{self.service_id}.md",
            "Markdown (*.md)",
        )
        if path:
            with open(path, "w", encoding="utf-8") as out:
                out.write(self.text.toPlainText())
