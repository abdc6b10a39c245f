"""The live log table's model: the newest entries, appended in batches.

Rows only ever arrive at the end, one ``beginInsertRows`` per batch for the
new rows alone, and leave from the front, one ``beginRemoveRows`` when the
table is over its capacity. Nothing is ever rebuilt, so a view and its
filter proxy do work in proportion to the batch, not to the table.

Each row is a plain tuple of strings and numbers (see :class:`LogRow`), not
the :class:`LogRecord` it came from: CPython's cyclic garbage collector
stops tracking such tuples, so the table's 100,000 rows add nothing to its
full collections, each of which stalls the event loop for as long as it
walks the tracked objects.

Pausing keeps the table still for reading: batches wait in a bounded buffer
(the oldest waiting entries go first, and are counted) and are appended in
one go on resume.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable, Sequence
from datetime import datetime
from enum import IntEnum
from typing import Any, Final, NamedTuple

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QModelRoleData,
    QModelRoleDataSpan,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QBrush, QColor

from deployconsole.core.ingest import DEFAULT_RETAINED
from deployconsole.core.logentry import SEVERITY_RANK, LogRecord
from deployconsole.ui.headers import column_title

log = logging.getLogger("deployconsole.ui.live")

Index = QModelIndex | QPersistentModelIndex

# Tooltips show the entry's text up to this many characters; entries may
# hold 256 KB, which no tooltip can show.
TOOLTIP_CHARS = 4_000
# A summary cell shows its first line, at most this many characters of it
# (the view elides the rest to its width); tooltips and copies get it whole.
CELL_CHARS = 500
# The list behind the rows drops its evicted head once it is this long:
# eviction stays a cheap index move, and each drop frees few enough rows
# to cost about a millisecond (freeing half of a full 100,000-row table at
# once stalled the window for some 30 ms).
_COMPACT_AT = 4_096

_SEVERITY_BRUSHES = {
    "WARNING": QBrush(QColor("#b06000")),
    "ERROR": QBrush(QColor("#c5221f")),
    "CRITICAL": QBrush(QColor("#a50e0e")),
    "ALERT": QBrush(QColor("#a50e0e")),
    "EMERGENCY": QBrush(QColor("#a50e0e")),
}
_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)


_ERROR_RANK = SEVERITY_RANK["ERROR"]


class LogRow(NamedTuple):
    """One row's values. ``rank`` is the severity rank the filter uses: that
    of ``severity``, or ERROR for a 5xx answer or a traceback logged without
    severity (python3 runtimes log both that way)."""

    insert_id: str
    timestamp: float | None
    severity: str
    service: str
    version: str
    status: int | None
    summary: str
    text: str
    rank: int


# Positions in the stored tuples (LogRow's field order).
INSERT_ID: Final = 0
TIMESTAMP: Final = 1
SEVERITY: Final = 2
SERVICE: Final = 3
VERSION: Final = 4
STATUS: Final = 5
SUMMARY: Final = 6
TEXT: Final = 7
RANK: Final = 8
Row = tuple[str, float | None, str, str, str, int | None, str, str, int]


def effective_rank(record: LogRecord) -> int:
    rank = SEVERITY_RANK.get(record.severity, 0)
    if rank < _ERROR_RANK and (
        (record.status is not None and record.status >= 500) or record.tracebacks
    ):
        return _ERROR_RANK
    return rank


def row_of(record: LogRecord) -> Row:
    """The stored row for a record: a plain tuple (not a LogRow, since the
    collector untracks only exact tuples)."""
    return (
        record.insert_id,
        record.timestamp,
        record.severity,
        record.service,
        record.version,
        record.status,
        record.summary,
        record.text,
        effective_rank(record),
    )


class Column(IntEnum):
    TIME = 0
    SEVERITY = 1
    SERVICE = 2
    VERSION = 3
    STATUS = 4
    SUMMARY = 5


HEADERS = {
    Column.TIME: "Time",
    Column.SEVERITY: "Severity",
    Column.SERVICE: "Service",
    Column.VERSION: "Version",
    Column.STATUS: "Status",
    Column.SUMMARY: "Summary",
}


_COLUMNS = len(Column)
_SUMMARY_COLUMN = int(Column.SUMMARY)
_STATUS_COLUMN = int(Column.STATUS)
_DISPLAY = int(Qt.ItemDataRole.DisplayRole.value)
_FOREGROUND = int(Qt.ItemDataRole.ForegroundRole.value)
_TOOLTIP = int(Qt.ItemDataRole.ToolTipRole.value)
_ALIGNMENT = int(Qt.ItemDataRole.TextAlignmentRole.value)
_ANSWERED = frozenset({_DISPLAY, _FOREGROUND, _TOOLTIP, _ALIGNMENT})


def format_time(seconds: float | None) -> str:
    """Local wall-clock time with milliseconds, "" when unknown."""
    if seconds is None:
        return ""
    return datetime.fromtimestamp(seconds).strftime("%H:%M:%S.%f")[:-3]


class RecordsModel(QAbstractTableModel):
    """Bounded, append-only table of log entries (rows as :class:`LogRow`).

    Signals:
        held_changed(int): how many entries wait while the table is paused
            (0 after resuming).
        scope_grew(): a service or version not seen before appeared, so
            filter choices may be offered for it.
    """

    held_changed = Signal(int)
    scope_grew = Signal()

    def __init__(self, capacity: int = DEFAULT_RETAINED, parent: Any = None) -> None:
        super().__init__(parent)
        if capacity < 1:
            raise ValueError(
                f"the log table must keep at least 1 entry, not {capacity}"
            )
        self._capacity = capacity
        # Rows are self._rows[self._start:]; evicted rows stay in the head of
        # the list until it is compacted.
        self._rows: list[Row] = []
        self._start = 0
        self._held: deque[Row] = deque(maxlen=capacity)
        self._paused = False
        # Entries pushed out of the table or of the pause buffer, unseen or not.
        self.evicted = 0
        self.appended = 0
        self.versions_seen: dict[str, set[str]] = {}

    # -- reading -----------------------------------------------------------

    @property
    def capacity(self) -> int:
        return self._capacity

    @property
    def paused(self) -> bool:
        return self._paused

    def held(self) -> int:
        return len(self._held)

    def row(self, row: int) -> LogRow:
        return LogRow._make(self._rows[self._start + row])

    def raw_row(self, row: int) -> Row:
        """The stored tuple (index it with INSERT_ID, SERVICE...): for the
        filter, which looks at every row."""
        return self._rows[self._start + row]

    # -- growing -----------------------------------------------------------

    def append(self, records: Sequence[LogRecord]) -> None:
        """Add records at the end (or to the pause buffer); oldest go first."""
        if not records:
            return
        self._note_scope(records)
        rows = [row_of(record) for record in records]
        if self._paused:
            overflow = len(self._held) + len(rows) - self._capacity
            if overflow > 0:
                self.evicted += overflow
            self._held.extend(rows)
            self.held_changed.emit(len(self._held))
            return
        self._append_rows(rows)

    def set_paused(self, paused: bool) -> None:
        if paused == self._paused:
            return
        self._paused = paused
        if paused:
            return
        held = list(self._held)
        self._held.clear()
        self._append_rows(held)
        self.held_changed.emit(0)

    def set_capacity(self, capacity: int) -> None:
        """Keep at most ``capacity`` rows from now on (drops the oldest now)."""
        if capacity < 1:
            raise ValueError(
                f"the log table must keep at least 1 entry, not {capacity}"
            )
        self._capacity = capacity
        self._held = deque(self._held, maxlen=capacity)
        self._evict(len(self._rows) - self._start - capacity)

    def clear(self) -> None:
        self.beginResetModel()
        self._rows = []
        self._start = 0
        self._held.clear()
        self.endResetModel()
        self.held_changed.emit(0)

    def _append_rows(self, rows: list[Row]) -> None:
        if not rows:
            return
        if len(rows) > self._capacity:
            self.evicted += len(rows) - self._capacity
            rows = rows[-self._capacity :]
        count = len(self._rows) - self._start
        self._evict(count + len(rows) - self._capacity)
        first = len(self._rows) - self._start
        self.beginInsertRows(QModelIndex(), first, first + len(rows) - 1)
        self._rows.extend(rows)
        self.appended += len(rows)
        self.endInsertRows()

    def _evict(self, count: int) -> None:
        count = min(count, len(self._rows) - self._start)
        if count <= 0:
            return
        self.beginRemoveRows(QModelIndex(), 0, count - 1)
        self._start += count
        self.evicted += count
        if self._start >= _COMPACT_AT:
            del self._rows[: self._start]
            self._start = 0
        self.endRemoveRows()

    def _note_scope(self, records: Sequence[LogRecord]) -> None:
        seen = self.versions_seen
        grew = False
        for record in records:
            versions = seen.get(record.service)
            if versions is None:
                versions = seen[record.service] = set()
                grew = True
            if record.version not in versions:
                versions.add(record.version)
                grew = True
        if grew:
            self.scope_grew.emit()

    # -- the model interface --------------------------------------------------

    def index(
        self, row: int, column: int, parent: Index = QModelIndex()
    ) -> QModelIndex:
        # Qt's own index() asks rowCount() and columnCount() first: two calls
        # into Python per painted cell instead of this one.
        if (
            parent.isValid()
            or row < 0
            or column < 0
            or column >= _COLUMNS
            or row >= len(self._rows) - self._start
        ):
            return QModelIndex()
        return self.createIndex(row, column)

    def rowCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows) - self._start

    def columnCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else _COLUMNS

    def headerData(
        self,
        section: int,
        orientation: Qt.Orientation,
        role: int = Qt.ItemDataRole.DisplayRole,
    ) -> Any:
        return column_title(HEADERS, section, orientation, role)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        return _value(self._rows[self._start + index.row()], index.column(), role)

    def multiData(
        self, index: Index, roleDataSpan: QModelRoleDataSpan | QModelRoleData
    ) -> None:
        # Views ask for seven roles per painted cell in one call here rather
        # than seven calls to data(). Every call from Qt into Python must take
        # the interpreter lock, which the tail's thread holds most of the
        # time during a burst: fewer calls, shorter stalls.
        if not index.isValid():
            return
        row = self._rows[self._start + index.row()]
        column = index.column()
        wanted: Iterable[QModelRoleData]
        if isinstance(roleDataSpan, QModelRoleData):
            wanted = (roleDataSpan,)
        else:
            wanted = roleDataSpan  # type: ignore[assignment]  # iterable; not in stubs
        for role_data in wanted:
            # Views may hand the same span from cell to cell: every role gets
            # this cell's answer, "no value" included.
            role = role_data.role()
            value = _value(row, column, role) if role in _ANSWERED else None
            if value is None:
                role_data.clearData()
            else:
                role_data.setData(value)


def _value(row: Row, column: int, role: int) -> Any:
    if role == _DISPLAY:
        return _display(row, column)
    if role == _FOREGROUND:
        brush = _SEVERITY_BRUSHES.get(row[SEVERITY])
        status = row[STATUS]
        if brush is None and status is not None and status >= 500:
            brush = _SEVERITY_BRUSHES["ERROR"]
        return brush
    if role == _TOOLTIP and column == _SUMMARY_COLUMN:
        text = row[TEXT] or row[SUMMARY]
        if len(text) > TOOLTIP_CHARS:
            text = text[:TOOLTIP_CHARS] + f"\n… ({len(text):,} characters)"
        return text
    if role == _ALIGNMENT and column == _STATUS_COLUMN:
        return _RIGHT
    return None


def _display(row: Row, column: int) -> str:
    if column == Column.TIME:
        return format_time(row[TIMESTAMP])
    if column == Column.SEVERITY:
        return row[SEVERITY]
    if column == Column.SERVICE:
        return row[SERVICE]
    if column == Column.VERSION:
        return row[VERSION]
    if column == Column.STATUS:
        status = row[STATUS]
        return "" if status is None else str(status)
    summary = row[SUMMARY]
    if len(summary) > CELL_CHARS or "\n" in summary:
        # Clipped here, not by a delegate: a delegate written in Python
        # costs a third of the table's repaint.
        return summary.partition("\n")[0][:CELL_CHARS] + " …"
    return summary
