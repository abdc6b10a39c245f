"""One local SQLite file shared by the journal and the rollout store.

Each store owns its own tables in the same file and creates them on first
use; a connection is opened per call (SQLite connections are not shared
across threads), with a busy timeout so two stores writing at once wait
instead of failing.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from deployconsole.core.split import Split


def dump_split(split: Split | None) -> str | None:
    return None if split is None else json.dumps(split.to_json(), sort_keys=True)


def load_split(text: str | None) -> Split | None:
    return None if text is None else Split.from_json(json.loads(text))


class SqliteFile:
    """Base of a store in a SQLite file; subclasses implement ``_create``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._ready = False
        self._lock = threading.Lock()

    def _create(self, connection: sqlite3.Connection) -> None:
        raise NotImplementedError

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if not self._ready:
                self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.path, timeout=10.0)
        connection.row_factory = sqlite3.Row
        try:
            with self._lock:
                if not self._ready:
                    self._create(connection)
                    self._ready = True
            yield connection
        finally:
            connection.close()
