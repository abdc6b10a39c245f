"""``deployconsole tail`` as a user runs it: a separate process following
the emulator, stopped by Ctrl-C or by its reader going away."""

from __future__ import annotations

import json
import os
import queue
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import IO, Any

import pytest
from test_tail_support import (
    DEADLINE,
    KEY_ERROR,
    PROJECT,
    request_log,
    running_emulator,
    stderr,
    store_of,
)

from deployconsole.core.traceback_model import CONTEXT_SENTENCE
from deployconsole.emulator.server import Emulator

JSON_KEYS = {
    "insert_id",
    "timestamp",
    "service",
    "version",
    "severity",
    "status",
    "summary",
    "fingerprint",
    "traceback",
}


@pytest.fixture()
def emulator() -> Iterator[Emulator]:
    yield from running_emulator()


class Tail:
    """A running ``deployconsole tail`` whose output lines are read as they
    come."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "deployconsole", "tail", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        assert self.process.stdout is not None
        threading.Thread(
            target=self._read, args=(self.process.stdout,), daemon=True
        ).start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def line(self) -> str:
        try:
            line = self.lines.get(timeout=DEADLINE)
        except queue.Empty:
            pytest.fail(f"no output within {DEADLINE} s")
        if line is None:
            pytest.fail(f"tail ended early: {self.finish()}")
        return line

    def interrupt(self) -> int:
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(DEADLINE)

    def finish(self) -> str:
        """The exit code and stderr, once the process has ended."""
        code = self.process.wait(DEADLINE)
        assert self.process.stderr is not None
        return f"exit {code}: {self.process.stderr.read()}"

    def errors(self) -> str:
        assert self.process.stderr is not None
        return self.process.stderr.read()


def follow(emulator: Emulator, *args: str) -> Tail:
    tail = Tail("--emulator", emulator.address, "--project", PROJECT, *args)
    if not store_of(emulator).wait_for_sessions(1, DEADLINE):
        tail.process.kill()
        pytest.fail(f"tail never connected: {tail.finish()}")
    return tail


def split_traceback_entries(at: float) -> list[Any]:
    """A traceback a log agent cut into four stderr entries."""
    text = KEY_ERROR.replace(
        "Traceback (most recent call last):",
        'Traceback (most recent call last):\n  File "/workspace/a.py", line 1, '
        "in f\n    g()\nValueError: first\n\n"
        + CONTEXT_SENTENCE
        + "\n\nTraceback (most recent call last):",
        1,
    )
    lines = text.split("\n")
    cut = lines.index(CONTEXT_SENTENCE)
    parts = [
        "ERROR in app: Exception on /cart [GET]",
        "\n".join(lines[: cut - 1]),
        CONTEXT_SENTENCE,
        "\n".join(lines[cut + 2 :]),
    ]
    return [
        stderr(part, at=at + n * 0.0001, insert_id=f"part{n}")
        for n, part in enumerate(parts)
    ]


def test_json_lines_of_errors_with_tracebacks_joined(emulator: Emulator) -> None:
    tail = follow(emulator, "--json")
    now = time.time()
    store_of(emulator).write(
        [
            request_log(200, at=now, insert_id="ok"),
            request_log(503, at=now, insert_id="failed"),
            *split_traceback_entries(now),
        ]
    )
    first, second = json.loads(tail.line()), json.loads(tail.line())
    assert tail.interrupt() == 130
    assert "Traceback (most recent call last)" not in tail.errors()

    assert set(first) == JSON_KEYS and set(second) == JSON_KEYS
    assert first["insert_id"] == "failed"
    assert first["status"] == 503 and first["traceback"] is None
    assert first["severity"] == "DEFAULT" and first["fingerprint"] is None
    assert first["service"] == "default" and first["version"] == "v1"
    assert first["timestamp"].endswith("Z")
    # The traceback, printed once, joined from its four entries.
    assert second["insert_id"] == "part1"
    assert second["summary"] == "KeyError: 'sku-7731'"
    traceback = second["traceback"]
    assert traceback["source"] == "part1"
    assert traceback["fingerprint"] == second["fingerprint"]
    assert [e["type"] for e in traceback["exceptions"]] == ["ValueError", "KeyError"]
    assert traceback["exceptions"][0]["relation_to_next"] == "context"
    assert traceback["preamble"] == "ERROR in app: Exception on /cart [GET]"


def test_all_prints_every_entry_as_text(emulator: Emulator) -> None:
    tail = follow(emulator, "--all", "--service", "default")
    now = time.time()
    store_of(emulator).write(
        [
            request_log(200, at=now, insert_id="ok"),
            request_log(500, service="api", at=now, insert_id="other-service"),
            stderr(KEY_ERROR, at=now + 1, insert_id="tb"),
        ]
    )
    ok = tail.line()
    header = tail.line()
    body = [tail.line() for _ in range(KEY_ERROR.count("\n") + 1)]
    assert tail.interrupt() == 130
    assert ok.endswith("DEFAULT  default/v1 200 GET /cart 200")
    assert header.endswith("KeyError: 'sku-7731'")
    assert body[0] == "    Traceback (most recent call last):"
    assert body[-1] == "    KeyError: 'sku-7731'"
    assert "stopped" in tail.errors()


def test_a_reader_going_away_ends_it_quietly(emulator: Emulator) -> None:
    # A bare OS pipe: closing our end is what `| head -1` does once it has
    # its line.
    read_end, write_end = os.pipe()
    process = subprocess.Popen(
        [sys.executable, "-m", "deployconsole", "tail", "--json"]
        + ["--emulator", emulator.address, "--project", PROJECT],
        stdout=write_end,
        stderr=subprocess.PIPE,
        text=True,
    )
    os.close(write_end)
    try:
        store = store_of(emulator)
        assert store.wait_for_sessions(1, DEADLINE)
        store.write([request_log(500, insert_id="first")])
        ready, _, _ = select.select([read_end], [], [], DEADLINE)
        assert ready, "no output"
        first = os.read(read_end, 65536).decode().split("\n")[0]
        assert json.loads(first)["insert_id"] == "first"
    finally:
        os.close(read_end)
    # The next entry's write fails on the closed pipe.
    for n in range(100):
        store.write([request_log(500, insert_id=f"more{n}")])
        try:
            process.wait(0.1)
            break
        except subprocess.TimeoutExpired:
            continue
    assert process.wait(DEADLINE) == 0
    assert process.stderr is not None
    errors = process.stderr.read()
    assert "Traceback" not in errors and "Exception" not in errors


def test_unreachable_service_exits_3(emulator: Emulator) -> None:
    tail = Tail("--emulator", "127.0.0.1:1", "--project", PROJECT)
    result = tail.finish()
    assert result.startswith("exit 3:"), result
    assert "Cannot reach Cloud Logging" in result
    assert "Traceback" not in result


def test_missing_permission_exits_3(emulator: Emulator) -> None:
    emulator.faults.set("permission-denied=ListLogEntries")
    tail = Tail("--emulator", emulator.address, "--project", PROJECT)
    result = tail.finish()
    assert result.startswith("exit 3:"), result
    assert "PERMISSION_DENIED" in result


def test_a_service_id_app_engine_refuses_is_a_usage_error() -> None:
    tail = Tail("--emulator", "127.0.0.1:1", "--service", "Bad Name")
    result = tail.finish()
    assert result.startswith("exit 2:"), result
    assert "'Bad Name' is not a valid service id" in result


def test_help_names_the_flags_of_the_issue() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "deployconsole", "tail", "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "100"},
        check=True,
    )
    for flag in ("--service S", "--version V", "--all", "--json"):
        assert flag in done.stdout
