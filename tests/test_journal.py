"""The journal: append-only SQLite, survives a restart, exports."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

import pytest

from deployconsole.core.journal import (
    Journal,
    JournalRow,
    default_path,
    export_csv,
    export_json,
    local_identity,
)
from deployconsole.core.split import ShardBy, Split

BEFORE = Split.of({"v1": 1.0}, ShardBy.IP)
AFTER = Split.of({"v1": 0.9, "v2": 0.1}, ShardBy.COOKIE)


def row(service: str = "default", second: int = 0, **changes: object) -> JournalRow:
    values: dict[str, object] = dict(
        time=datetime(2025, 12, 3, 16, 0, second, tzinfo=timezone.utc),
        identity="ana@example.com",
        project="demo",
        service=service,
        action="set-traffic",
        target=service,
        split_before=BEFORE,
        split_requested=AFTER,
        split_after=AFTER,
        migrate=False,
        operation_name="apps/demo/operations/1",
        outcome="succeeded",
    )
    values.update(changes)
    return JournalRow(**values)  # type: ignore[arg-type]


def test_rows_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "journal.sqlite3"
    first = Journal(path)
    written = first.append(row())
    first.append(row(service="api", second=1, outcome="failed", error="boom"))
    assert written.id == 1

    reopened = Journal(path)
    rows = reopened.rows()
    assert [r.service for r in rows] == ["default", "api"]
    assert rows[0] == written
    assert rows[1].error == "boom" and rows[1].split_after == AFTER
    assert reopened.rows(service="api")[0].outcome == "failed"
    assert reopened.rows(project="other") == []


def test_rows_limit_keeps_the_newest_oldest_first(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    for second in range(5):
        journal.append(row(second=second))
    assert [r.time.second for r in journal.rows(limit=2)] == [3, 4]


def test_the_database_refuses_edits(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    Journal(path).append(row())
    connection = sqlite3.connect(path)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        connection.execute("UPDATE journal SET outcome = 'succeeded'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        connection.execute("DELETE FROM journal")
    connection.close()
    assert len(Journal(path).rows()) == 1


def test_a_newer_schema_is_refused_plainly(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA user_version = 99")
    connection.close()
    with pytest.raises(RuntimeError, match="newer deployconsole"):
        Journal(path).rows()


def test_missing_splits_are_stored_as_null(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    journal.append(row(split_requested=None, split_after=None, outcome="refused"))
    stored = journal.rows()[0]
    assert stored.split_requested is None and stored.split_after is None


def test_exports(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    journal.append(row())
    journal.append(row(second=1, split_after=None, outcome="unreachable"))
    rows = journal.rows()

    out = io.StringIO()
    export_json(rows, out)
    data = json.loads(out.getvalue())
    assert data[0]["split_after"] == {
        "shard_by": "COOKIE", "allocations": {"v1": 0.9, "v2": 0.1}
    }
    assert data[1]["split_after"] is None
    assert data[0]["time"] == "2025-12-03T16:00:00+00:00"

    out = io.StringIO()
    export_csv(rows, out)
    records = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [r["outcome"] for r in records] == ["succeeded", "unreachable"]
    assert json.loads(records[0]["split_before"]) == BEFORE.to_json()
    assert records[1]["split_after"] == ""


def test_default_path_is_in_the_user_data_dir(isolated_home: str) -> None:
    path = default_path()
    assert path.name == "journal.sqlite3"
    assert str(path).startswith(isolated_home)
    Journal().append(row())
    assert path.exists()


def test_local_identity_names_user_and_host() -> None:
    assert "@" in local_identity()
