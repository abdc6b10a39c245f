"""Paints a version's traffic share as a bar with its percentage."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, Qt
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import QStyledItemDelegate, QStyleOptionViewItem

from deployconsole.ui.versions_model import AllocationRole

_BAR = QColor(66, 133, 244)
_TRACK = QColor(66, 133, 244, 40)


class TrafficBarDelegate(QStyledItemDelegate):
    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        allocation = index.data(AllocationRole)
        if not isinstance(allocation, float):
            super().paint(painter, option, index)
            return
        self.initStyleOption(option, index)
        full: QRect = option.rect  # type: ignore[attr-defined]
        text_width = 48
        bar = full.adjusted(4, 0, -text_width - 4, 0)
        bar.setTop(full.center().y() - 4)
        bar.setHeight(9)
        painter.save()
        painter.fillRect(bar, _TRACK)
        if allocation > 0:
            filled = QRect(bar)
            filled.setWidth(max(2, int(bar.width() * allocation)))
            painter.fillRect(filled, _BAR)
        painter.setPen(option.palette.text().color())  # type: ignore[attr-defined]
        label = QRect(full.right() - text_width, full.top(), text_width, full.height())
        align = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        painter.drawText(label.adjusted(0, 0, -4, 0), align, index.data() or "0%")
        painter.restore()
