"""A one-line status that changes often, without re-laying out its parent."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QPainter, QPaintEvent, QPalette
from PySide6.QtWidgets import QSizePolicy, QStyleOption, QWidget


class StatusLine(QWidget):
    """One line of text that changes often (the table's counts).

    A QLabel asks its layout for new geometry on every new text, and the
    layout pass repaints the whole panel, filters and table included, ten
    times a second during a burst; this line only repaints itself. Text
    wider than the line is elided.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._text = ""
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def text(self) -> str:
        return self._text

    def setText(self, text: str) -> None:
        if text != self._text:
            self._text = text
            self.setToolTip(text)
            self.update()

    def sizeHint(self) -> QSize:
        return QSize(100, self.fontMetrics().height() + 4)

    def minimumSizeHint(self) -> QSize:
        return QSize(0, self.fontMetrics().height() + 4)

    def paintEvent(self, _event: QPaintEvent) -> None:
        painter = QPainter(self)
        option = QStyleOption()
        option.initFrom(self)
        rect = self.contentsRect().adjusted(2, 0, -2, 0)
        text = self.fontMetrics().elidedText(
            self._text, Qt.TextElideMode.ElideRight, rect.width()
        )
        self.style().drawItemText(
            painter,
            rect,
            int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
            option.palette,  # type: ignore[attr-defined]
            self.isEnabled(),
            text,
            QPalette.ColorRole.WindowText,
        )
