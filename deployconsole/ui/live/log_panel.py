"""The live log table: filters, pause and follow over the records model."""

from __future__ import annotations

import logging
import re
from typing import Any

from PySide6.QtCore import (
    QAbstractItemModel,
    QModelIndex,
    QModelRoleData,
    QModelRoleDataSpan,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    QTimer,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from deployconsole.core.logentry import SEVERITY_RANK
from deployconsole.ui.live.records_model import (
    RANK,
    SERVICE,
    SUMMARY,
    TEXT,
    VERSION,
    Column,
    RecordsModel,
)
from deployconsole.ui.live.status_line import StatusLine

log = logging.getLogger("deployconsole.ui.live")

# Typing in the text filter re-filters after this pause, not per keystroke.
TEXT_DEBOUNCE_MS = 200
SEVERITY_CHOICES = (
    ("Any severity", ""),
    ("Debug and above", "DEBUG"),
    ("Info and above", "INFO"),
    ("Notice and above", "NOTICE"),
    ("Warning and above", "WARNING"),
    ("Error and above", "ERROR"),
    ("Critical and above", "CRITICAL"),
)
_ALL = ""


class RecordsFilter(QSortFilterProxyModel):
    """Rows of a :class:`RecordsModel` by service, version, severity, text.

    Empty criteria match everything. The severity is a minimum, with a 5xx
    answer or a traceback counting as ERROR (see ``LogRow.rank``); the text
    matches the summary or the entry's whole text, ignoring case.

    The log panel shows the records model itself while no criterion is set,
    and detaches this proxy (``setSourceModel(None)``), so that it does not
    filter every new row for nobody.
    """

    def __init__(self, source: RecordsModel, parent: Any = None) -> None:
        super().__init__(parent)
        self._records = source
        self.service = _ALL
        self.version = _ALL
        self.min_rank = 0
        self.text = ""
        self._pattern: re.Pattern[str] | None = None
        self.setSourceModel(source)

    def active(self) -> bool:
        """Whether any criterion is set (else every row matches)."""
        return bool(self.service or self.version or self.min_rank or self._pattern)

    def set_service(self, service: str) -> None:
        self._change(lambda: setattr(self, "service", service))

    def set_version(self, version: str) -> None:
        self._change(lambda: setattr(self, "version", version))

    def set_min_severity(self, severity: str) -> None:
        if severity and severity not in SEVERITY_RANK:
            raise ValueError(f"{severity!r} is not a log severity")
        self._change(lambda: setattr(self, "min_rank", SEVERITY_RANK.get(severity, 0)))

    def set_text(self, text: str) -> None:
        def apply() -> None:
            self.text = text
            self._pattern = re.compile(re.escape(text), re.IGNORECASE) if text else None

        self._change(apply)

    def _change(self, apply: Any) -> None:
        # Qt 6.10 replaced invalidateRowsFilter() with a begin/end pair.
        begin = getattr(self, "beginFilterChange", None)
        if begin is not None:
            begin()
            apply()
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:
            apply()
            self.invalidateRowsFilter()

    def multiData(
        self,
        index: QModelIndex | QPersistentModelIndex,
        roleDataSpan: QModelRoleDataSpan | QModelRoleData,
    ) -> None:
        # QSortFilterProxyModel would answer role by role, each a call into
        # Python (and its source index another two, for the bounds check).
        # See RecordsModel.multiData for why the number of calls matters.
        if index.isValid():
            self._records.multiData(self.mapToSource(index), roleDataSpan)

    def filterAcceptsRow(
        self, source_row: int, source_parent: QModelIndex | QPersistentModelIndex
    ) -> bool:
        row = self._records.raw_row(source_row)
        if self.service and row[SERVICE] != self.service:
            return False
        if self.version and row[VERSION] != self.version:
            return False
        if self.min_rank and row[RANK] < self.min_rank:
            return False
        pattern = self._pattern
        if pattern is not None:
            return bool(pattern.search(row[SUMMARY]) or pattern.search(row[TEXT]))
        return True


class LogPanel(QWidget):
    """The live log table with its filter bar, pause and follow."""

    def __init__(self, model: RecordsModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("liveLogPanel")
        self.model = model
        self.proxy = RecordsFilter(model, self)
        self._scroll_pending = False
        self.view = self._make_view()

        self.service_box = QComboBox(self)
        self.service_box.setObjectName("logServiceFilter")
        self.version_box = QComboBox(self)
        self.version_box.setObjectName("logVersionFilter")
        self.severity_box = QComboBox(self)
        self.severity_box.setObjectName("logSeverityFilter")
        for label, severity in SEVERITY_CHOICES:
            self.severity_box.addItem(label, severity)
        self.text_edit = QLineEdit(self)
        self.text_edit.setObjectName("logTextFilter")
        self.text_edit.setPlaceholderText("Filter text")
        self.text_edit.setClearButtonEnabled(True)
        self.pause_button = QToolButton(self)
        self.pause_button.setObjectName("logPause")
        self.pause_button.setText("Pause")
        self.pause_button.setCheckable(True)
        self.pause_button.setToolTip("Stop adding entries to the table; they wait")
        self.follow_box = QCheckBox("Follow", self)
        self.follow_box.setObjectName("logFollow")
        self.follow_box.setToolTip("Keep the newest entry in view")
        self.follow_box.setChecked(True)
        self.status_label = StatusLine(self)
        self.status_label.setObjectName("logStatus")
        self._fill_scope_boxes()

        bar = QHBoxLayout()
        bar.addWidget(self.service_box)
        bar.addWidget(self.version_box)
        bar.addWidget(self.severity_box)
        bar.addWidget(self.text_edit, 1)
        bar.addWidget(self.pause_button)
        bar.addWidget(self.follow_box)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(bar)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.status_label)

        self._text_timer = QTimer(self)
        self._text_timer.setSingleShot(True)
        self._text_timer.setInterval(TEXT_DEBOUNCE_MS)
        self._text_timer.timeout.connect(self._on_text_settled)
        self.text_edit.textChanged.connect(self._text_timer.start)
        self.service_box.currentIndexChanged.connect(self._on_service_chosen)
        self.version_box.currentIndexChanged.connect(self._on_version_chosen)
        self.severity_box.currentIndexChanged.connect(self._on_severity_chosen)
        self.pause_button.toggled.connect(self._on_pause_toggled)
        self.follow_box.toggled.connect(self._on_follow_toggled)
        model.scope_grew.connect(self._fill_scope_boxes)
        model.held_changed.connect(lambda _held: self._update_status())
        # The view shows one of the two (see _show_filtered_if_needed).
        model.rowsInserted.connect(lambda *_: self._on_rows_shown(model))
        model.rowsRemoved.connect(lambda *_: self._on_rows_gone(model))
        model.modelReset.connect(lambda: self._on_rows_gone(model))
        proxy = self.proxy
        proxy.rowsInserted.connect(lambda *_: self._on_rows_shown(proxy))
        proxy.rowsRemoved.connect(lambda *_: self._on_rows_gone(proxy))
        proxy.modelReset.connect(lambda: self._on_rows_gone(proxy))
        proxy.layoutChanged.connect(lambda *_: self._on_rows_gone(proxy))
        bar_ = self.view.verticalScrollBar()
        bar_.actionTriggered.connect(self._on_user_scrolled)
        self._show_filtered_if_needed()
        self._update_status()

    def _make_view(self) -> QTableView:
        view = QTableView(self)
        view.setObjectName("liveLogTable")
        view.setModel(self.proxy)  # until _show_filtered_if_needed() decides
        # Qt's own delegate for every column: one written in Python costs
        # more than the model (the model clips long summaries itself).
        view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        view.setWordWrap(False)
        view.setAlternatingRowColors(True)
        view.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        rows = view.verticalHeader()
        rows.setVisible(False)
        # Fixed heights: the view never measures 100,000 rows.
        rows.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        rows.setDefaultSectionSize(view.fontMetrics().height() + 6)
        header = view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        for column, width in (
            (Column.TIME, 100),
            (Column.SEVERITY, 80),
            (Column.SERVICE, 90),
            (Column.VERSION, 150),
            (Column.STATUS, 55),
        ):
            header.resizeSection(column, width)
        header.setStretchLastSection(True)
        return view

    # -- filters -----------------------------------------------------------

    def _fill_scope_boxes(self) -> None:
        seen = self.model.versions_seen
        service = self.service_box.currentData() or _ALL
        _refill(
            self.service_box,
            [("All services", _ALL)] + [(s or "(none)", s) for s in sorted(seen) if s],
            service,
        )
        versions = seen.get(service, set()) if service else set().union(*seen.values())
        version = self.version_box.currentData() or _ALL
        _refill(
            self.version_box,
            [("All versions", _ALL)] + [(v, v) for v in sorted(versions) if v],
            version,
        )

    def _on_service_chosen(self, _index: int) -> None:
        self.proxy.set_service(self.service_box.currentData() or _ALL)
        self._show_filtered_if_needed()
        self._fill_scope_boxes()
        self._update_status()

    def _on_version_chosen(self, _index: int) -> None:
        self.proxy.set_version(self.version_box.currentData() or _ALL)
        self._show_filtered_if_needed()
        self._update_status()

    def _on_severity_chosen(self, _index: int) -> None:
        self.proxy.set_min_severity(self.severity_box.currentData() or "")
        self._show_filtered_if_needed()
        self._update_status()

    def _on_text_settled(self) -> None:
        self.proxy.set_text(self.text_edit.text())
        self._show_filtered_if_needed()
        self._update_status()

    # -- pause and follow ------------------------------------------------------

    def _on_pause_toggled(self, paused: bool) -> None:
        self.pause_button.setText("Resume" if paused else "Pause")
        self.model.set_paused(paused)
        self._update_status()

    def _on_follow_toggled(self, follow: bool) -> None:
        if follow:
            self.view.scrollToBottom()

    def _show_filtered_if_needed(self) -> None:
        """Show the proxy while a criterion is set, else the model itself."""
        wanted = self.proxy if self.proxy.active() else self.model
        if self.view.model() is wanted:
            return
        header = self.view.horizontalHeader()
        widths = header.saveState()
        if wanted is self.proxy:
            self.proxy.setSourceModel(self.model)
        self.view.setModel(wanted)
        if wanted is self.model:
            self.proxy.setSourceModel(None)  # type: ignore[arg-type]  # Qt: nullptr
        header.restoreState(widths)
        if self.follow_box.isChecked():
            self.view.scrollToBottom()

    def _on_rows_shown(self, source: QAbstractItemModel) -> None:
        if source is not self.view.model():
            return
        if self.follow_box.isChecked() and not self._scroll_pending:
            # Once the view has taken the rows in (its own handler of the
            # signal may run after this one), and before it repaints.
            self._scroll_pending = True
            QTimer.singleShot(0, self._scroll_to_newest)
        self._update_status()

    def _scroll_to_newest(self) -> None:
        self._scroll_pending = False
        if self.follow_box.isChecked():
            self.view.scrollToBottom()

    def _on_rows_gone(self, source: QAbstractItemModel) -> None:
        if source is self.view.model():
            self._update_status()

    def _on_user_scrolled(self, _action: int) -> None:
        # The slider moves after the action is reported; look once it has.
        QTimer.singleShot(0, self._follow_if_at_bottom)

    def _follow_if_at_bottom(self) -> None:
        bar = self.view.verticalScrollBar()
        self.follow_box.setChecked(bar.value() >= bar.maximum())

    def _update_status(self) -> None:
        model = self.model
        total = model.rowCount()
        shown = self.view.model().rowCount()
        parts = [f"{shown:,} of {total:,} entries shown"]
        if model.evicted:
            parts.append(
                f"{model.evicted:,} older entries left the table "
                f"(it keeps the newest {model.capacity:,})"
            )
        if model.paused:
            parts.append(f"paused: {model.held():,} new entries waiting")
        self.status_label.setText("; ".join(parts))


def _refill(box: QComboBox, items: list[tuple[str, str]], current: str) -> None:
    """Replace a combo box's items, keeping the current choice if offered."""
    if [(box.itemText(i), box.itemData(i)) for i in range(box.count())] == items:
        return
    box.blockSignals(True)
    box.clear()
    for label, value in items:
        box.addItem(label, value)
    index = box.findData(current)
    box.setCurrentIndex(max(index, 0))
    box.blockSignals(False)
    if index < 0 and current:
        # The chosen value is no longer offered: the filter must follow.
        box.currentIndexChanged.emit(0)
