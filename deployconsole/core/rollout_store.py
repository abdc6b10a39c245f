"""Guarded rollouts on disk, so that a crash leaves a record to act on.

Two tables in the journal's SQLite file: ``rollouts``, one row per guarded
rollout with its state, step and splits, updated as it goes; and
``rollout_events``, its timeline, only ever appended to. The guard writes
the split it is about to send *before* sending it, so traffic is never at
an intermediate step without a row saying so: the next start finds the
rollout unfinished (no finish time) and can resume or abort it.

A running guard refreshes its row's heartbeat; a row whose heartbeat has
gone stale belongs to a console that died, and another may take it over.

Each call opens its own short connection, like the journal, so the guard's
thread and the GUI thread can both use one store.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deployconsole.core.journal import default_path
from deployconsole.core.rollout_model import GuardEvent, GuardState
from deployconsole.core.split import Split
from deployconsole.core.sqlite_file import SqliteFile, dump_split, load_split

log = logging.getLogger("deployconsole.rollout")

# Seconds without a heartbeat after which a running rollout counts as dead.
DEFAULT_STALE_AFTER = 30.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS rollouts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project TEXT NOT NULL,
    service TEXT NOT NULL,
    candidate TEXT NOT NULL,
    identity TEXT NOT NULL,
    owner TEXT NOT NULL,
    started REAL NOT NULL,
    heartbeat REAL NOT NULL,
    finished REAL,
    state TEXT NOT NULL,
    step INTEGER NOT NULL,
    split_before TEXT NOT NULL,
    split_target TEXT,
    split_live TEXT,
    settings TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS rollouts_by_service ON rollouts (project, service);
CREATE TABLE IF NOT EXISTS rollout_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    rollout_id INTEGER NOT NULL REFERENCES rollouts (id),
    time REAL NOT NULL,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    step INTEGER NOT NULL,
    message TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS rollout_events_by_rollout
    ON rollout_events (rollout_id, time);
CREATE TRIGGER IF NOT EXISTS rollout_events_no_update
BEFORE UPDATE ON rollout_events
BEGIN SELECT RAISE(ABORT, 'the rollout timeline is append-only'); END;
CREATE TRIGGER IF NOT EXISTS rollout_events_no_delete
BEFORE DELETE ON rollout_events
BEGIN SELECT RAISE(ABORT, 'the rollout timeline is append-only'); END;
"""


class RolloutBusy(RuntimeError):
    """An unfinished rollout of the service is recorded already."""

    def __init__(self, message: str, record: RolloutRecord) -> None:
        super().__init__(message)
        self.record = record


@dataclass(frozen=True)
class RolloutRecord:
    """One guarded rollout as recorded.

    Attributes:
        id: the row number.
        project, service, candidate: what is rolled out where.
        identity: who started it; owner: which console runs it now.
        started, heartbeat: epoch seconds.
        finished: epoch seconds, None while unfinished.
        state: the guard's state as last recorded.
        step: the step index (-1 before the first).
        split_before: the split live before the guard began.
        split_target: the split being sent, written before it is sent.
        split_live: the split last read back.
        settings: the guard's settings (GuardSettings.to_json()).
        reason: why it ended, once it has.
    """

    id: int
    project: str
    service: str
    candidate: str
    identity: str
    owner: str
    started: float
    heartbeat: float
    finished: float | None
    state: GuardState
    step: int
    split_before: Split
    split_target: Split | None
    split_live: Split | None
    settings: dict[str, Any]
    reason: str

    @property
    def unfinished(self) -> bool:
        return self.finished is None

    def stale(self, now: float, after: float = DEFAULT_STALE_AFTER) -> bool:
        """Whether the console that ran it has stopped beating."""
        return now - self.heartbeat >= after


@dataclass(frozen=True)
class StoredEvent:
    """One event of a rollout's timeline as stored (``data`` is its JSON)."""

    rollout_id: int
    at: float
    kind: str
    state: str
    step: int
    message: str
    data: dict[str, Any]


class RolloutStore(SqliteFile):
    """The rollouts tables in the SQLite file at ``path`` (the journal's)."""

    def __init__(self, path: Path | str | None = None) -> None:
        super().__init__(Path(path) if path is not None else default_path())

    def _create(self, connection: sqlite3.Connection) -> None:
        connection.executescript(_SCHEMA)
        connection.commit()

    def begin(
        self,
        *,
        project: str,
        service: str,
        candidate: str,
        identity: str,
        owner: str,
        split_before: Split,
        settings: dict[str, Any],
        now: float,
    ) -> RolloutRecord:
        """Record a new rollout; RolloutBusy if one of the service is unfinished."""
        with self._connect() as connection:
            connection.execute("BEGIN IMMEDIATE")
            found = connection.execute(
                "SELECT * FROM rollouts WHERE project = ? AND service = ? AND "
                "finished IS NULL ORDER BY id LIMIT 1",
                (project, service),
            ).fetchone()
            if found is not None:
                connection.rollback()
                record = _record(found)
                raise RolloutBusy(
                    f"An unfinished guarded rollout of {record.candidate} in "
                    f"{service} (started by {record.identity}, state "
                    f"{record.state.value}) is recorded; resume or abort it first.",
                    record,
                )
            cursor = connection.execute(
                "INSERT INTO rollouts (project, service, candidate, identity, owner, "
                "started, heartbeat, state, step, split_before, settings) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    project, service, candidate, identity, owner, now, now,
                    GuardState.PENDING.value, -1, dump_split(split_before),
                    json.dumps(settings, sort_keys=True),
                ),
            )
            connection.commit()
            rollout_id = cursor.lastrowid or 0
        log.info(
            "Rollout %d of %s/%s recorded (project %s).",
            rollout_id, service, candidate, project,
        )
        created = self.get(rollout_id)
        assert created is not None
        return created

    def update(
        self,
        rollout_id: int,
        *,
        state: GuardState,
        step: int,
        now: float,
        split_target: Split | None = None,
        split_live: Split | None = None,
    ) -> None:
        """Record the state and step; splits given replace the stored ones."""
        sets = ["state = ?", "step = ?", "heartbeat = ?"]
        params: list[Any] = [state.value, step, now]
        if split_target is not None:
            sets.append("split_target = ?")
            params.append(dump_split(split_target))
        if split_live is not None:
            sets.append("split_live = ?")
            params.append(dump_split(split_live))
        params.append(rollout_id)
        self._execute(f"UPDATE rollouts SET {', '.join(sets)} WHERE id = ?", params)

    def beat(self, rollout_id: int, now: float) -> None:
        self._execute(
            "UPDATE rollouts SET heartbeat = ? WHERE id = ?", (now, rollout_id)
        )

    def finish(
        self,
        rollout_id: int,
        *,
        state: GuardState,
        reason: str,
        split_live: Split | None,
        now: float,
    ) -> None:
        """Record the end. A BROKEN rollout stays unfinished: its split is
        not the one from before, so the next start must offer to act on it."""
        finished = None if state is GuardState.BROKEN else now
        self._execute(
            "UPDATE rollouts SET state = ?, reason = ?, finished = ?, heartbeat = ?, "
            "split_live = COALESCE(?, split_live) WHERE id = ?",
            (state.value, reason, finished, now, dump_split(split_live), rollout_id),
        )

    def take_over(
        self, rollout_id: int, owner: str, now: float, stale_after: float
    ) -> bool:
        """Make ``owner`` run the rollout, if its old owner has stopped beating."""
        with self._connect() as connection:
            cursor = connection.execute(
                "UPDATE rollouts SET owner = ?, heartbeat = ? WHERE id = ? AND "
                "(owner = ? OR heartbeat <= ?)",
                (owner, now, rollout_id, owner, now - stale_after),
            )
            connection.commit()
            return cursor.rowcount == 1

    def add_event(self, rollout_id: int, event: GuardEvent) -> None:
        self._execute(
            "INSERT INTO rollout_events (rollout_id, time, kind, state, step, "
            "message, data) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                rollout_id, event.at, event.kind.value, event.state.value,
                event.step, event.message, json.dumps(event.to_json()),
            ),
        )

    def get(self, rollout_id: int) -> RolloutRecord | None:
        with self._connect() as connection:
            found = connection.execute(
                "SELECT * FROM rollouts WHERE id = ?", (rollout_id,)
            ).fetchone()
        return None if found is None else _record(found)

    def unfinished(
        self, project: str | None = None, service: str | None = None
    ) -> list[RolloutRecord]:
        """Rollouts without a finish time, oldest first."""
        return self._select("finished IS NULL", project, service, None)

    def rollouts(
        self,
        project: str | None = None,
        service: str | None = None,
        since: float | None = None,
    ) -> list[RolloutRecord]:
        """Rollouts started (or still beating) at or after ``since``, oldest first."""
        return self._select("1 = 1", project, service, since)

    def events(self, rollout_id: int) -> list[StoredEvent]:
        with self._connect() as connection:
            rows = connection.execute(
                "SELECT * FROM rollout_events WHERE rollout_id = ? ORDER BY time, id",
                (rollout_id,),
            ).fetchall()
        return [
            StoredEvent(
                row["rollout_id"], row["time"], row["kind"], row["state"],
                row["step"], row["message"], json.loads(row["data"]),
            )
            for row in rows
        ]

    def _select(
        self,
        condition: str,
        project: str | None,
        service: str | None,
        since: float | None,
    ) -> list[RolloutRecord]:
        where: list[str] = [condition]
        params: list[Any] = []
        if project is not None:
            where.append("project = ?")
            params.append(project)
        if service is not None:
            where.append("service = ?")
            params.append(service)
        if since is not None:
            where.append("heartbeat >= ?")
            params.append(since)
        query = f"SELECT * FROM rollouts WHERE {' AND '.join(where)} ORDER BY id"
        with self._connect() as connection:
            rows = connection.execute(query, params).fetchall()
        return [_record(row) for row in rows]

    def _execute(self, query: str, params: Any) -> None:
        with self._connect() as connection:
            connection.execute(query, params)
            connection.commit()


def _record(row: sqlite3.Row) -> RolloutRecord:
    before = load_split(row["split_before"])
    assert before is not None
    return RolloutRecord(
        id=row["id"],
        project=row["project"],
        service=row["service"],
        candidate=row["candidate"],
        identity=row["identity"],
        owner=row["owner"],
        started=row["started"],
        heartbeat=row["heartbeat"],
        finished=row["finished"],
        state=GuardState(row["state"]),
        step=row["step"],
        split_before=before,
        split_target=load_split(row["split_target"]),
        split_live=load_split(row["split_live"]),
        settings=json.loads(row["settings"]),
        reason=row["reason"],
    )
