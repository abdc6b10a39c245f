"""``deployconsole errors`` on exports and plain log files, as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from corpus.expect import FIXTURE, fixture_entries

from deployconsole.cli import main
from deployconsole.core.fingerprint import fingerprint
from deployconsole.core.logentry import record_from_json


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["errors", *args])
    out, err = capsys.readouterr()
    return code, out, err


def _export(tmp_path: Path, *, array: bool, newest_first: bool = False) -> Path:
    entries = [entry for entry, _ in fixture_entries()]
    if newest_first:
        entries.reverse()
    path = tmp_path / ("export.json" if array else "export.jsonl")
    if array:
        path.write_text(
            json.dumps(entries, indent=2, ensure_ascii=False), encoding="utf-8"
        )
    else:
        lines = [json.dumps(entry, ensure_ascii=False) for entry in entries]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _document(out: str) -> dict[str, Any]:
    document = json.loads(out)
    assert set(document) == {"groups", "tracebacks"}
    return document


def test_gcloud_export_as_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(["--json", str(_export(tmp_path, array=True))], capsys)
    assert (code, err) == (0, "")
    document = _document(out)
    tracebacks = document["tracebacks"]
    # Every traceback of the fixture, the three split ones joined.
    expected = sum(len(e.get("tracebacks") or []) for _, e in fixture_entries())
    assert len(tracebacks) == expected - 2 + 3
    first = tracebacks[0]
    assert set(first) == {
        "source", "timestamp", "service", "version", "fingerprint", "preamble",
        "incomplete", "exceptions",
    }  # fmt: skip
    assert first["source"] == "691c35a0000193faf9ebb7b6"
    assert first["timestamp"] == "2025-11-18T09:00:14.900000Z"
    assert (first["service"], first["version"]) == ("default", "20201001t120000")
    assert first["exceptions"][0]["type"] == "DistributionNotFound"
    assert set(first["exceptions"][0]) == {
        "type",
        "message",
        "relation_to_next",
        "frames",
    }
    order = [json.loads(line)["insertId"] for line in FIXTURE.read_text().splitlines()]
    sources = [t["source"] for t in tracebacks]
    assert sources == sorted(sources, key=order.index)

    groups = document["groups"]
    assert [g["count"] for g in groups] == sorted(
        (g["count"] for g in groups), reverse=True
    )
    biggest = groups[0]
    assert (biggest["type"], biggest["count"]) == ("ValueError", 4)
    assert biggest["first_version"] == "20201001t120000"
    assert sum(g["count"] for g in groups) == len(tracebacks)
    by_fingerprint = {g["fingerprint"]: g for g in groups}
    assert all(t["fingerprint"] in by_fingerprint for t in tracebacks)


def test_json_lines_newest_first_gives_the_same(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _code, array_out, _ = _run(["--json", str(_export(tmp_path, array=True))], capsys)
    path = _export(tmp_path, array=False, newest_first=True)
    code, out, err = _run(["--json", str(path)], capsys)
    assert (code, err) == (0, "")
    mine, theirs = _document(out), _document(array_out)
    assert mine["groups"] == theirs["groups"]
    assert sorted(t["source"] for t in mine["tracebacks"]) == sorted(
        t["source"] for t in theirs["tracebacks"]
    )


def test_table_of_groups(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run([str(_export(tmp_path, array=False))], capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:2] == ["COUNT", "TYPE"]
    assert lines[1].split()[:2] == ["4", "ValueError"]
    assert "invalid literal for int() with base 10: 'fifty'" in lines[1]
    assert lines[-1].startswith("46 tracebacks in ")
    assert "split entries joined" in lines[-1]


def test_service_and_version_filters(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(_export(tmp_path, array=False))
    _code, out, _ = _run(["--json", "--service", "admin", path], capsys)
    tracebacks = _document(out)["tracebacks"]
    assert tracebacks and {t["service"] for t in tracebacks} == {"admin"}
    _code, out, _ = _run(["--json", "--version", "20251103t101500", path], capsys)
    tracebacks = _document(out)["tracebacks"]
    assert tracebacks and {t["version"] for t in tracebacks} == {"20251103t101500"}
    code, out, _ = _run(["--json", "--service", "nope", path], capsys)
    assert code == 0 and _document(out) == {"groups": [], "tracebacks": []}


def test_plain_log_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    texts = [e["textPayload"] for e, _ in fixture_entries() if "textPayload" in e]
    texts = [t for t in texts if len(t) < 20_000]
    path = tmp_path / "app.log"
    path.write_text("\n".join(texts) + "\n", encoding="utf-8")
    code, out, err = _run(["--json", str(path)], capsys)
    assert (code, err) == (0, "")
    tracebacks = _document(out)["tracebacks"]
    lines = path.read_text(encoding="utf-8").split("\n")
    for item in tracebacks:
        assert isinstance(item["source"], int)
        started = lines[item["source"] - 1]
        assert (
            started.endswith("(most recent call last):")
            or item["exceptions"][0]["type"] in started
        )
    flask = next(t for t in tracebacks if t["exceptions"][-1]["type"] == "TypeError")
    assert flask["timestamp"] == "2025-11-18T09:01:38.358000Z"
    assert flask["preamble"].startswith("[2025-11-18 09:01:38,358] ERROR in app")
    # The same errors as in the export of those entries.
    records = [record_from_json(e) for e, _ in fixture_entries() if "textPayload" in e]
    known = {fingerprint(tb) for r in records for tb in r.tracebacks}
    assert {t["fingerprint"] for t in tracebacks} <= known


def test_stdin_and_bad_lines(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    good = FIXTURE.read_text(encoding="utf-8").splitlines()[1]
    data = "\n".join([good, "not json at all", "[1, 2]", '{"hello": 1}', good]) + "\n"
    monkeypatch.setattr(sys, "stdin", _Stdin(data.encode()))
    code, out, err = _run(["--json", "-"], capsys)
    assert code == 0
    assert err.splitlines() == [
        "deployconsole errors: standard input: line 2: not JSON (Expecting value); "
        "skipped",
        "deployconsole errors: standard input: line 3: not a LogEntry (expected a "
        "LogEntry object, got an array); skipped",
        "deployconsole errors: standard input: line 4: not a LogEntry (not a "
        "LogEntry: none of logName, insertId, timestamp, resource, severity, "
        "textPayload, jsonPayload or protoPayload); skipped",
    ]
    assert len(_document(out)["tracebacks"]) == 2


def test_nothing_read_exits_two(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty.log"
    empty.write_text("\n\n", encoding="utf-8")
    code, out, err = _run([str(empty)], capsys)
    assert (code, out) == (2, "")
    assert "nothing to read" in err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"a": 1}\n{oops\n', encoding="utf-8")
    code, _out, err = _run([str(bad)], capsys)
    assert code == 2 and "line 2: not JSON" in err
    code, _out, err = _run([str(tmp_path / "missing.json")], capsys)
    assert code == 2 and "cannot read" in err and "Traceback" not in err
    code, _out, err = _run([str(tmp_path)], capsys)
    assert code == 2 and "cannot read" in err


def test_broken_array_reports_where(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = FIXTURE.read_text(encoding="utf-8").splitlines()[2]
    path = tmp_path / "cut.json"
    path.write_text("[\n" + good + ",\n" + good[:200], encoding="utf-8")
    code, out, err = _run(["--json", str(path)], capsys)
    assert code == 0
    assert "line 3: not JSON" in err
    assert len(_document(out)["tracebacks"]) == 1


def test_no_python_traceback_of_ours_on_garbage(tmp_path: Path) -> None:
    path = tmp_path / "garbage.bin"
    path.write_bytes(bytes(range(256)) * 50 + b"\xff\xfe{[")
    proc = subprocess.run(
        [sys.executable, "-m", "deployconsole", "errors", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0
    assert "Traceback" not in proc.stderr
    assert "not valid UTF-8" in proc.stderr
    assert proc.stdout.strip() == "0 tracebacks in 0 groups."


class _Stdin:
    def __init__(self, data: bytes) -> None:
        import io

        self.buffer = io.BytesIO(data)

    def isatty(self) -> bool:
        return False
