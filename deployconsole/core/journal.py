"""The journal: one row for every action the console took, kept locally.

A SQLite file in the user data directory, written only by appending: the
database itself refuses UPDATE and DELETE, so the record of who changed
what cannot be edited by the console afterwards. Rows are exported as CSV
or JSON for incident reports.

Each call opens its own short connection, so the operation runner's thread
can append while the GUI thread reads.
"""

from __future__ import annotations

import csv
import getpass
import json
import logging
import socket
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from deployconsole.core.split import Split
from deployconsole.core.sqlite_file import SqliteFile, dump_split, load_split

log = logging.getLogger("deployconsole.journal")

JOURNAL_FILE = "journal.sqlite3"
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS journal (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time REAL NOT NULL,
    identity TEXT NOT NULL,
    project TEXT NOT NULL,
    service TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    split_before TEXT,
    split_requested TEXT,
    split_after TEXT,
    migrate INTEGER NOT NULL DEFAULT 0,
    operation_name TEXT NOT NULL DEFAULT '',
    outcome TEXT NOT NULL,
    error TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS journal_by_service ON journal (project, service, time);
CREATE TRIGGER IF NOT EXISTS journal_no_update BEFORE UPDATE ON journal
BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;
CREATE TRIGGER IF NOT EXISTS journal_no_delete BEFORE DELETE ON journal
BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;
"""

EXPORT_FIELDS = (
    "id", "time", "identity", "project", "service", "action", "target",
    "split_before", "split_requested", "split_after", "migrate",
    "operation_name", "outcome", "error",
)


def default_path() -> Path:
    """``journal.sqlite3`` in the platform's user data directory."""
    import platformdirs

    return Path(platformdirs.user_data_dir("deployconsole", appauthor=False)) / (
        JOURNAL_FILE
    )


def local_identity() -> str:
    """Who is at this console, as ``user@host`` (for rows the server can't name)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


@dataclass(frozen=True)
class JournalRow:
    """One action the console took.

    Attributes:
        time: when the action started (UTC).
        identity: who acted (account email or ``user@host``).
        project, service: where.
        action: ``set-traffic``, ``rollback``, ``stop-version``...
        target: ``default`` or ``default/v2``.
        split_before: the split shown to the user before the action.
        split_requested: the split the action asked for.
        split_after: the split read back from the server afterwards.
        migrate: whether gradual migration was asked for.
        operation_name: the long-running operation's name, if one started.
        outcome: an OutcomeStatus value (``succeeded``, ``failed``...).
        error: the plain message when it did not succeed.
        id: the row number, 0 until appended.
    """

    time: datetime
    identity: str
    project: str
    service: str
    action: str
    target: str
    split_before: Split | None
    split_requested: Split | None
    split_after: Split | None
    migrate: bool
    operation_name: str
    outcome: str
    error: str = ""
    id: int = 0

    def to_json(self) -> dict[str, Any]:
        def split(value: Split | None) -> dict[str, object] | None:
            return value.to_json() if value is not None else None

        return {
            "id": self.id,
            "time": self.time.isoformat(),
            "identity": self.identity,
            "project": self.project,
            "service": self.service,
            "action": self.action,
            "target": self.target,
            "split_before": split(self.split_before),
            "split_requested": split(self.split_requested),
            "split_after": split(self.split_after),
            "migrate": self.migrate,
            "operation_name": self.operation_name,
            "outcome": self.outcome,
            "error": self.error,
        }


class Journal(SqliteFile):
    """The append-only action journal at ``path`` (created on first use)."""

    def __init__(self, path: Path | str | None = None) -> None:
        super().__init__(Path(path) if path is not None else default_path())

    def _create(self, connection: sqlite3.Connection) -> None:
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise RuntimeError(
                f"The journal {self.path} was written by a newer deployconsole "
                f"(schema {version}); this one reads schema {SCHEMA_VERSION}."
            )
        connection.executescript(_SCHEMA)
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        connection.commit()

    def append(self, row: JournalRow) -> JournalRow:
        """Write ``row``; returns it with its id."""
        with self._connect() as connection:
            cursor = connection.execute(
                "INSERT INTO journal (time, identity, project, service, action, "
                "target, split_before, split_requested, split_after, migrate, "
                "operation_name, outcome, error) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    row.time.timestamp(), row.identity, row.project, row.service,
                    row.action, row.target, dump_split(row.split_before),
                    dump_split(row.split_requested), dump_split(row.split_after),
                    int(row.migrate), row.operation_name, row.outcome, row.error,
                ),
            )
            connection.commit()
            row_id = cursor.lastrowid or 0
        log.info(
            "Journal row %d: %s on %s/%s by %s ended %s.",
            row_id, row.action, row.project, row.target, row.identity, row.outcome,
        )
        return replace(row, id=row_id)

    def rows(
        self,
        *,
        project: str | None = None,
        service: str | None = None,
        limit: int | None = None,
    ) -> list[JournalRow]:
        """Rows oldest first, optionally for one project/service, the newest
        ``limit`` of them."""
        where, params = [], []
        if project is not None:
            where.append("project = ?")
            params.append(project)
        if service is not None:
            where.append("service = ?")
            params.append(service)
        query = "SELECT * FROM journal"
        if where:
            query += " WHERE " + " AND ".join(where)
        query += " ORDER BY time DESC, id DESC"
        if limit is not None:
            query += f" LIMIT {int(limit)}"
        with self._connect() as connection:
            connection.row_factory = sqlite3.Row
            records = connection.execute(query, params).fetchall()
        return [_row(record) for record in reversed(records)]


def _row(record: sqlite3.Row) -> JournalRow:
    return JournalRow(
        id=record["id"],
        time=datetime.fromtimestamp(record["time"], tz=timezone.utc),
        identity=record["identity"],
        project=record["project"],
        service=record["service"],
        action=record["action"],
        target=record["target"],
        split_before=load_split(record["split_before"]),
        split_requested=load_split(record["split_requested"]),
        split_after=load_split(record["split_after"]),
        migrate=bool(record["migrate"]),
        operation_name=record["operation_name"],
        outcome=record["outcome"],
        error=record["error"],
    )


def export_json(rows: Sequence[JournalRow], out: IO[str]) -> None:
    """Rows as a JSON array of objects (splits as nested objects)."""
    json.dump([row.to_json() for row in rows], out, indent=2)
    out.write("\n")


def export_csv(rows: Sequence[JournalRow], out: IO[str]) -> None:
    """Rows as CSV with a header; splits as compact JSON in their cells."""
    writer = csv.DictWriter(out, fieldnames=EXPORT_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        record = row.to_json()
        for name in ("split_before", "split_requested", "split_after"):
            value = record[name]
            record[name] = "" if value is None else json.dumps(value, sort_keys=True)
        writer.writerow(record)
