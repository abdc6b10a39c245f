"""The services → versions tree shown in the main window.

Refreshes arrive every few seconds; the model is updated in place (rows
inserted, removed or changed), never reset after the first load, so the
selection and scroll position survive a refresh.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import IntEnum
from typing import Any

from PySide6.QtCore import (
    QAbstractItemModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
)

from deployconsole.core.appmodel import ServiceInfo, VersionInfo
from deployconsole.core.split import format_fraction
from deployconsole.ui.headers import column_title

Index = QModelIndex | QPersistentModelIndex

# Role carrying the traffic fraction (float) for the bar delegate.
AllocationRole = Qt.ItemDataRole.UserRole + 1
# Role carrying the ServiceInfo or VersionInfo of a row.
InfoRole = Qt.ItemDataRole.UserRole + 2

# internalId of a service row; a version row stores its service's row + 1
# (internalId is unsigned, so no negative sentinel).
_NO_PARENT = 0


class Column(IntEnum):
    VERSION = 0
    TRAFFIC = 1
    STATUS = 2
    INSTANCES = 3
    RUNTIME = 4
    AGE = 5
    DEPLOYER = 6


_HEADERS = {
    Column.VERSION: "Service / version",
    Column.TRAFFIC: "Traffic",
    Column.STATUS: "Status",
    Column.INSTANCES: "Instances",
    Column.RUNTIME: "Runtime",
    Column.AGE: "Age",
    Column.DEPLOYER: "Deployed by",
}


def format_age(created: datetime | None, now: datetime) -> str:
    if created is None:
        return ""
    seconds = max(0, int((now - created).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


@dataclass
class _ServiceRow:
    info: ServiceInfo
    versions: list[VersionInfo] = field(default_factory=list)


class VersionsModel(QAbstractItemModel):
    """Two levels: services, then their versions (newest first)."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._services: list[_ServiceRow] = []

    # -- reading -----------------------------------------------------------

    def service_at(self, index: Index) -> ServiceInfo | None:
        if not index.isValid():
            return None
        if index.internalId() == _NO_PARENT:
            return self._services[index.row()].info
        return self._services[index.internalId() - 1].info

    def version_at(self, index: Index) -> VersionInfo | None:
        if not index.isValid() or index.internalId() == _NO_PARENT:
            return None
        return self._services[index.internalId() - 1].versions[index.row()]

    def versions_of(self, service_id: str) -> list[VersionInfo]:
        for row in self._services:
            if row.info.id == service_id:
                return list(row.versions)
        return []

    def service(self, service_id: str) -> ServiceInfo | None:
        for row in self._services:
            if row.info.id == service_id:
                return row.info
        return None

    def version_count(self) -> int:
        return sum(len(row.versions) for row in self._services)

    def index_of(self, service_id: str, version_id: str | None = None) -> QModelIndex:
        for s, row in enumerate(self._services):
            if row.info.id != service_id:
                continue
            if version_id is None:
                return self.index(s, 0)
            for v, version in enumerate(row.versions):
                if version.id == version_id:
                    return self.index(v, 0, self.index(s, 0))
        return QModelIndex()

    # -- updating ----------------------------------------------------------

    def set_snapshot(
        self, services: list[ServiceInfo], versions: dict[str, list[VersionInfo]]
    ) -> None:
        """Make the model show exactly ``services`` and their ``versions``."""
        wanted = [s.id for s in services]
        # Drop services that are gone, back to front so rows stay valid.
        for s in range(len(self._services) - 1, -1, -1):
            if self._services[s].info.id not in wanted:
                self.beginRemoveRows(QModelIndex(), s, s)
                del self._services[s]
                self.endRemoveRows()
        for position, info in enumerate(services):
            rows = sorted(
                versions.get(info.id, []),
                key=lambda v: (
                    v.create_time or datetime.min.replace(tzinfo=timezone.utc),
                    v.id,
                ),
                reverse=True,
            )
            existing = self._find(info.id)
            if existing is None:
                self.beginInsertRows(QModelIndex(), position, position)
                self._services.insert(position, _ServiceRow(info, rows))
                self.endInsertRows()
                continue
            if existing != position:
                # Services come back in a stable order; a move is rare
                # enough that remove + insert is fine.
                row = self._services[existing]
                self.beginRemoveRows(QModelIndex(), existing, existing)
                del self._services[existing]
                self.endRemoveRows()
                self.beginInsertRows(QModelIndex(), position, position)
                self._services.insert(position, row)
                self.endInsertRows()
            self._update_service(position, info, rows)

    def _find(self, service_id: str) -> int | None:
        for s, row in enumerate(self._services):
            if row.info.id == service_id:
                return s
        return None

    def _update_service(
        self, s: int, info: ServiceInfo, rows: list[VersionInfo]
    ) -> None:
        service_row = self._services[s]
        parent = self.index(s, 0)
        split_changed = service_row.info != info
        service_row.info = info
        if split_changed:
            self.dataChanged.emit(self.index(s, 0), self.index(s, len(Column) - 1))

        old_ids = [v.id for v in service_row.versions]
        new_ids = [v.id for v in rows]
        if old_ids != new_ids:
            # Remove the versions that are gone, then insert the new ones in
            # place; the common case is one new version at the top.
            for v in range(len(service_row.versions) - 1, -1, -1):
                if service_row.versions[v].id not in new_ids:
                    self.beginRemoveRows(parent, v, v)
                    del service_row.versions[v]
                    self.endRemoveRows()
            present = {x.id for x in service_row.versions}
            for v, version in enumerate(rows):
                if version.id in present:
                    continue
                self.beginInsertRows(parent, v, v)
                service_row.versions.insert(v, version)
                self.endInsertRows()
                present.add(version.id)
            if [x.id for x in service_row.versions] != new_ids:
                # Reordered (a create time changed): move by replacing data.
                service_row.versions = list(rows)
                self._changed_children(parent, 0, len(rows) - 1)
                return
        for v, version in enumerate(rows):
            if split_changed or service_row.versions[v] != version:
                service_row.versions[v] = version
                self._changed_children(parent, v, v)

    def _changed_children(self, parent: QModelIndex, first: int, last: int) -> None:
        if last < first:
            return
        self.dataChanged.emit(
            self.index(first, 0, parent), self.index(last, len(Column) - 1, parent)
        )

    # -- Qt model interface ------------------------------------------------

    def index(
        self, row: int, column: int, parent: Index = QModelIndex()
    ) -> QModelIndex:
        if column < 0 or column >= len(Column) or row < 0:
            return QModelIndex()
        if not parent.isValid():
            if row >= len(self._services):
                return QModelIndex()
            return self.createIndex(row, column, _NO_PARENT)
        if parent.internalId() != _NO_PARENT:
            return QModelIndex()
        service = parent.row()
        if service >= len(self._services) or row >= len(
            self._services[service].versions
        ):
            return QModelIndex()
        return self.createIndex(row, column, service + 1)

    def parent(self, index: Index = QModelIndex()) -> QModelIndex:  # type: ignore[override]
        if not index.isValid() or index.internalId() == _NO_PARENT:
            return QModelIndex()
        return self.createIndex(index.internalId() - 1, 0, _NO_PARENT)

    def rowCount(self, parent: Index = QModelIndex()) -> int:
        if not parent.isValid():
            return len(self._services)
        if parent.internalId() == _NO_PARENT and parent.column() == 0:
            return len(self._services[parent.row()].versions)
        return 0

    def columnCount(self, parent: Index = QModelIndex()) -> int:
        return len(Column)

    def headerData(
        self,
        section: int,
        orientation: Qt.Orientation,
        role: int = Qt.ItemDataRole.DisplayRole,
    ) -> Any:
        return column_title(_HEADERS, section, orientation, role)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        if index.internalId() == _NO_PARENT:
            return self._service_data(self._services[index.row()], index.column(), role)
        row = self._services[index.internalId() - 1]
        return self._version_data(row, row.versions[index.row()], index.column(), role)

    def _service_data(self, row: _ServiceRow, column: int, role: int) -> Any:
        if role == InfoRole:
            return row.info
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if column == Column.VERSION:
            return row.info.id
        if column == Column.TRAFFIC:
            return row.info.split.describe()
        if column == Column.INSTANCES:
            known = [v.instances for v in row.versions if v.instances is not None]
            return str(sum(known)) if known else ""
        if column == Column.STATUS:
            return f"{len(row.versions)} versions"
        return None

    def _version_data(
        self, row: _ServiceRow, version: VersionInfo, column: int, role: int
    ) -> Any:
        allocation = row.info.split.allocation(version.id)
        if role == InfoRole:
            return version
        if role == AllocationRole and column == Column.TRAFFIC:
            return allocation
        if role == Qt.ItemDataRole.ToolTipRole and column == Column.VERSION:
            return version.version_url
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if column == Column.VERSION:
            return version.id
        if column == Column.TRAFFIC:
            return format_fraction(allocation) if allocation else ""
        if column == Column.STATUS:
            return version.serving_status.value.lower()
        if column == Column.INSTANCES:
            return "" if version.instances is None else str(version.instances)
        if column == Column.RUNTIME:
            return f"{version.runtime} ({version.env}, {version.scaling.value})"
        if column == Column.AGE:
            return format_age(version.create_time, datetime.now(timezone.utc))
        if column == Column.DEPLOYER:
            return version.created_by
        return None
