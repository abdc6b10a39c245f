"""The error groups table: counts, times, versions with a "new in" badge and a
sparkline of occurrences per minute."""

from __future__ import annotations

import logging

from PySide6.QtCore import (
    QItemSelection,
    QModelIndex,
    QPersistentModelIndex,
    QRectF,
    QSize,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QPainter, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from deployconsole.core.groups import ErrorGroup
from deployconsole.ui.live.groups_model import (
    BadgeRole,
    Column,
    GroupRole,
    GroupsModel,
    SortRole,
    SparklineRole,
)

log = logging.getLogger("deployconsole.ui.live")

Index = QModelIndex | QPersistentModelIndex

BADGE_BACKGROUND = QColor("#fce8e6")
BADGE_TEXT = QColor("#a50e0e")
SPARK_COLOUR = QColor("#d93025")


def _paint_background(
    painter: QPainter, option: QStyleOptionViewItem, index: Index
) -> None:
    # Let the style draw selection and hover, without the cell's text.
    opt = QStyleOptionViewItem(option)
    opt.text = ""  # type: ignore[attr-defined]
    widget = opt.widget  # type: ignore[attr-defined]
    style = widget.style() if widget is not None else None
    if style is not None:
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, widget)


class SparklineDelegate(QStyledItemDelegate):
    """Bars of a group's occurrences per minute, scaled to the busiest."""

    def paint(
        self, painter: QPainter, option: QStyleOptionViewItem, index: Index
    ) -> None:
        _paint_background(painter, option, index)
        counts = index.data(SparklineRole) or []
        peak = max(counts, default=0.0)
        if peak <= 0:
            return
        rect = QRectF(option.rect).adjusted(2, 3, -2, -3)  # type: ignore[attr-defined]
        width = rect.width() / len(counts)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(SPARK_COLOUR)
        for n, count in enumerate(counts):
            if count <= 0:
                continue
            height = max(1.0, rect.height() * count / peak)
            painter.drawRect(
                QRectF(
                    rect.left() + n * width,
                    rect.bottom() - height,
                    max(1.0, width - 1),
                    height,
                )
            )
        painter.restore()

    def sizeHint(self, option: QStyleOptionViewItem, index: Index) -> QSize:
        return QSize(120, super().sizeHint(option, index).height())


class VersionsDelegate(QStyledItemDelegate):
    """The group's versions, after a "new in vX" badge when it has one."""

    def paint(
        self, painter: QPainter, option: QStyleOptionViewItem, index: Index
    ) -> None:
        badge = index.data(BadgeRole) or ""
        if not badge:
            super().paint(painter, option, index)
            return
        _paint_background(painter, option, index)
        rect = option.rect.adjusted(3, 2, -3, -2)  # type: ignore[attr-defined]
        metrics = option.fontMetrics  # type: ignore[attr-defined]
        text = f"new in {badge}"
        pill = metrics.horizontalAdvance(text) + 10
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(BADGE_BACKGROUND)
        pill_rect = QRectF(
            rect.left(), rect.top(), min(pill, rect.width()), rect.height()
        )
        painter.drawRoundedRect(pill_rect, 6, 6)
        painter.setPen(BADGE_TEXT)
        painter.drawText(pill_rect, Qt.AlignmentFlag.AlignCenter, text)
        rest = rect.adjusted(int(pill_rect.width()) + 6, 0, 0, 0)
        state = option.state  # type: ignore[attr-defined]
        selected = bool(state & QStyle.StateFlag.State_Selected)
        role = (
            QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        )
        painter.setPen(option.palette.color(role))  # type: ignore[attr-defined]
        versions = metrics.elidedText(
            index.data() or "", Qt.TextElideMode.ElideRight, max(0, rest.width())
        )
        painter.drawText(
            rest,
            int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
            versions,
        )
        painter.restore()


class GroupsPanel(QWidget):
    """The error groups, biggest first.

    Signals:
        group_selected(object): the ErrorGroup now selected, as it stands
            (again when the selected group changes), or None.
    """

    group_selected = Signal(object)

    def __init__(self, model: GroupsModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("errorGroupsPanel")
        self.model = model
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(model)
        self.proxy.setSortRole(SortRole)
        self.proxy.setDynamicSortFilter(True)
        self.view = QTableView(self)
        self.view.setObjectName("errorGroupsTable")
        self.view.setModel(self.proxy)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setWordWrap(False)
        self.view.setSortingEnabled(True)
        self.view.sortByColumn(Column.COUNT, Qt.SortOrder.DescendingOrder)
        self.view.verticalHeader().setVisible(False)
        self.view.setItemDelegateForColumn(Column.TREND, SparklineDelegate(self.view))
        self.view.setItemDelegateForColumn(Column.VERSIONS, VersionsDelegate(self.view))
        header = self.view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        for column, width in (
            (Column.COUNT, 60),
            (Column.ERROR, 360),
            (Column.FIRST_SEEN, 80),
            (Column.LAST_SEEN, 80),
            (Column.VERSIONS, 220),
            (Column.TREND, 130),
        ):
            header.resizeSection(column, width)
        header.setStretchLastSection(True)
        self.empty_label = QLabel("No errors seen yet.", self)
        self.empty_label.setObjectName("errorGroupsEmpty")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.empty_label)
        layout.addWidget(self.view, 1)

        self._shown: ErrorGroup | None = None
        # Until the user picks a group, the biggest one is shown.
        self._follow_top = True
        self.view.selectionModel().selectionChanged.connect(self._on_selection_changed)
        self.view.pressed.connect(self._on_user_choice)
        self.view.activated.connect(self._on_user_choice)
        model.rowsInserted.connect(self._on_rows_inserted)
        model.dataChanged.connect(self._on_data_changed)
        model.modelReset.connect(self._on_selection_changed)
        self.proxy.layoutChanged.connect(self._on_data_changed)

    def current_group(self) -> ErrorGroup | None:
        rows = self.view.selectionModel().selectedRows()
        if not rows:
            return None
        group = rows[0].data(GroupRole)
        return group if isinstance(group, ErrorGroup) else None

    def select_fingerprint(self, fingerprint: str) -> bool:
        row = self.model.row_of(fingerprint)
        if row is None:
            return False
        self._follow_top = False
        index = self.proxy.mapFromSource(self.model.index(row, 0))
        self.view.selectRow(index.row())
        self.view.scrollTo(index)
        return True

    def _on_user_choice(self, *_args: object) -> None:
        self._follow_top = False

    def _on_rows_inserted(self, *_args: object) -> None:
        self.empty_label.setVisible(self.model.rowCount() == 0)
        self._select_top()
        self._announce()

    def _on_data_changed(self, *_args: object) -> None:
        self._select_top()
        self._announce()

    def _on_selection_changed(self, *_args: QItemSelection) -> None:
        if self.view.hasFocus():
            self._follow_top = False  # chosen with the keyboard
        self._announce()

    def _select_top(self) -> None:
        if not self._follow_top or self.proxy.rowCount() == 0:
            return
        rows = self.view.selectionModel().selectedRows()
        if not rows or rows[0].row() != 0:
            self.view.selectRow(0)

    def _announce(self) -> None:
        group = self.current_group()
        if group is self._shown:
            return
        self._shown = group
        self.group_selected.emit(group)

    def sizeHint(self) -> QSize:
        return QSize(700, 300)
