"""The error groups table's model: one row per fingerprint, updated in place.

The ingest batches carry each changed group as it stands now; a known group
updates its row (``dataChanged``), a new one is appended. Counts per minute
for the sparkline come from the growth of each group's count between
batches, placed in the minute of its latest entry; a batch covers 100 ms,
so only a batch straddling a minute boundary puts a few counts a minute
late.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import IntEnum
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
)

from deployconsole.core.alerts import NEW_ERROR_GROUP, Alert
from deployconsole.core.groups import ErrorGroup
from deployconsole.ui.headers import column_title

Index = QModelIndex | QPersistentModelIndex

# Minutes of counts each group keeps; the sparkline shows the newest ones.
SPARK_MINUTES = 30
MINUTE = 60
MESSAGE_CHARS = 2_000

GroupRole = Qt.ItemDataRole.UserRole + 1
# list[float]: counts per minute, oldest first, SPARK_MINUTES long.
SparklineRole = Qt.ItemDataRole.UserRole + 2
# str: the version a group is new in, "" when it is not new.
BadgeRole = Qt.ItemDataRole.UserRole + 3
# Sort key (counts and times as numbers, not text).
SortRole = Qt.ItemDataRole.UserRole + 4


class Column(IntEnum):
    COUNT = 0
    ERROR = 1
    FIRST_SEEN = 2
    LAST_SEEN = 3
    VERSIONS = 4
    TREND = 5


HEADERS = {
    Column.COUNT: "Count",
    Column.ERROR: "Error",
    Column.FIRST_SEEN: "First seen",
    Column.LAST_SEEN: "Last seen",
    Column.VERSIONS: "Versions",
    Column.TREND: "Per minute",
}


class _Row:
    __slots__ = ("group", "minutes", "badge")

    def __init__(self, group: ErrorGroup) -> None:
        self.group = group
        # Minute start (epoch seconds) -> occurrences.
        self.minutes: dict[int, float] = {}
        self.badge = ""


def format_seen(seconds: float | None) -> str:
    if seconds is None:
        return ""
    moment = datetime.fromtimestamp(seconds)
    if moment.date() == datetime.now().date():
        return moment.strftime("%H:%M:%S")
    return moment.strftime("%Y-%m-%d %H:%M")


class GroupsModel(QAbstractTableModel):
    """Error groups as the live stream reports them.

    A group gets a "new in vX" badge when an alert says it is new in
    version vX, or when it first showed up after the baseline: the first
    ``baseline_seconds`` of entry time watched, whose errors were there
    before the console looked.
    """

    def __init__(self, baseline_seconds: float = 10.0, parent: Any = None) -> None:
        super().__init__(parent)
        self.baseline_seconds = baseline_seconds
        # One row per group the pipeline keeps: it lets the least recently
        # seen go past its limit, and remove_groups follows.
        self._rows: list[_Row] = []
        self._by_key: dict[str, int] = {}
        self._watch_start: float | None = None
        # The newest entry time seen: where the sparkline ends.
        self.now: float | None = None

    # -- reading -----------------------------------------------------------

    def group(self, row: int) -> ErrorGroup:
        return self._rows[row].group

    def row_of(self, fingerprint: str) -> int | None:
        return self._by_key.get(fingerprint)

    def groups(self) -> list[ErrorGroup]:
        return [row.group for row in self._rows]

    def badge(self, fingerprint: str) -> str:
        row = self._by_key.get(fingerprint)
        return "" if row is None else self._rows[row].badge

    def sparkline(self, row: int) -> list[float]:
        minutes = self._rows[row].minutes
        if self.now is None:
            return [0.0] * SPARK_MINUTES
        last = int(self.now) - int(self.now) % MINUTE
        return [
            minutes.get(last - MINUTE * n, 0.0)
            for n in range(SPARK_MINUTES - 1, -1, -1)
        ]

    # -- updating ----------------------------------------------------------

    def note_times(self, times: Iterable[float | None]) -> None:
        """Entry times of the latest batch: the baseline starts at the first."""
        for at in times:
            if at is None:
                continue
            if self._watch_start is None or at < self._watch_start:
                self._watch_start = at
            if self.now is None or at > self.now:
                self.now = at

    def update_groups(self, groups: Iterable[ErrorGroup]) -> None:
        """Take the groups of a batch: known ones change, new ones append."""
        added: list[_Row] = []
        changed: list[int] = []
        for group in groups:
            row_index = self._by_key.get(group.fingerprint)
            if row_index is None:
                row = _Row(group)
                self._count(row, group.count, group.last_seen)
                self._badge_if_new(row)
                added.append(row)
                continue
            row = self._rows[row_index]
            self._count(row, group.count - row.group.count, group.last_seen)
            row.group = group
            changed.append(row_index)
        if changed:
            self.dataChanged.emit(
                self.index(min(changed), 0),
                self.index(max(changed), len(Column) - 1),
            )
        if added:
            first = len(self._rows)
            self.beginInsertRows(QModelIndex(), first, first + len(added) - 1)
            for n, row in enumerate(added):
                self._by_key[row.group.fingerprint] = first + n
                self._rows.append(row)
            self.endInsertRows()
        if self._rows and self.now is not None:
            # The sparklines' window moves with time even for quiet groups.
            self.dataChanged.emit(
                self.index(0, Column.TREND),
                self.index(len(self._rows) - 1, Column.TREND),
            )

    def remove_groups(self, fingerprints: Iterable[str]) -> None:
        """Drop the rows of groups the pipeline let go (unknown ones are
        ignored), each run of neighbouring rows in one removal."""
        doomed = sorted(
            {row for key in fingerprints if (row := self._by_key.get(key)) is not None},
            reverse=True,
        )
        if not doomed:
            return
        runs: list[tuple[int, int]] = []
        for row in doomed:
            if runs and runs[-1][0] == row + 1:
                runs[-1] = (row, runs[-1][1])
            else:
                runs.append((row, row))
        for first, last in runs:  # from the bottom up: indexes above hold
            self.beginRemoveRows(QModelIndex(), first, last)
            del self._rows[first : last + 1]
            self.endRemoveRows()
        self._by_key = {row.group.fingerprint: n for n, row in enumerate(self._rows)}

    def note_alerts(self, alerts: Iterable[Alert]) -> None:
        """Badge the groups that alerts call new in a version."""
        for alert in alerts:
            if alert.kind != NEW_ERROR_GROUP:
                continue
            row_index = self._by_key.get(alert.fingerprint)
            if row_index is None:
                continue
            self._rows[row_index].badge = alert.version
            index = self.index(row_index, Column.VERSIONS)
            self.dataChanged.emit(index, index)

    def _count(self, row: _Row, added: int, at: float | None) -> None:
        if added <= 0 or at is None:
            return
        minute = int(at) - int(at) % MINUTE
        row.minutes[minute] = row.minutes.get(minute, 0.0) + added
        if len(row.minutes) > SPARK_MINUTES * 2:
            for old in sorted(row.minutes)[:-SPARK_MINUTES]:
                del row.minutes[old]

    def _badge_if_new(self, row: _Row) -> None:
        group = row.group
        start = self._watch_start
        if start is None or group.first_seen is None or not group.first_version:
            return
        if group.first_seen - start >= self.baseline_seconds:
            row.badge = group.first_version

    # -- the model interface --------------------------------------------------

    def rowCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(Column)

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
        row = self._rows[index.row()]
        group = row.group
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return _display(group, column)
        if role == GroupRole:
            return group
        if role == SparklineRole:
            return self.sparkline(index.row())
        if role == BadgeRole:
            return row.badge
        if role == SortRole:
            return _sort_key(group, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == Column.ERROR:
                message = group.latest.headline()
                if group.message and len(group.message) <= MESSAGE_CHARS:
                    message = f"{group.type}: {group.message}"
                return f"{message}\n\nFingerprint {group.fingerprint}"
            if column == Column.VERSIONS and row.badge:
                return f"First seen in {row.badge}"
        if role == Qt.ItemDataRole.TextAlignmentRole and column == Column.COUNT:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


def _display(group: ErrorGroup, column: int) -> str | None:
    if column == Column.COUNT:
        return f"{group.count:,}"
    if column == Column.ERROR:
        return group.latest.headline()
    if column == Column.FIRST_SEEN:
        return format_seen(group.first_seen)
    if column == Column.LAST_SEEN:
        return format_seen(group.last_seen)
    if column == Column.VERSIONS:
        return ", ".join(group.versions)
    return None


def _sort_key(group: ErrorGroup, column: int) -> Any:
    if column == Column.COUNT:
        return group.count
    if column == Column.FIRST_SEEN:
        return group.first_seen or 0.0
    if column == Column.LAST_SEEN:
        return group.last_seen or 0.0
    if column == Column.TREND:
        return group.last_seen or 0.0
    return _display(group, column) or ""
