"""Helpers for the tests: the fixture entries and their ``_expect`` blocks.

tests/fixtures/gae-log-entries.jsonl holds Cloud Logging entries with an
extra ``_expect`` key that says what a parser must find (see the README of
the shared fixtures); these helpers load them and put parsed values in the
same shape, so that a test compares like with like.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from deployconsole.core.traceback_model import ExceptionInfo, Traceback

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "gae-log-entries.jsonl"


@cache
def _load() -> tuple[tuple[str, str], ...]:
    lines = FIXTURE.read_text(encoding="utf-8").splitlines()
    return tuple((line, json.loads(line)["_expect"]["case"]) for line in lines)


def fixture_entries() -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(entry without ``_expect``, expectation) for every fixture line."""
    out = []
    for line, _case in _load():
        entry = json.loads(line)
        out.append((entry, entry.pop("_expect")))
    return out


def fixture(case: str) -> tuple[dict[str, Any], dict[str, Any]]:
    for entry, expect in fixture_entries():
        if expect["case"] == case:
            return entry, expect
    raise KeyError(case)


def case_names() -> list[str]:
    return [case for _line, case in _load()]


def text_at(entry: dict[str, Any], where: str) -> str:
    """The text an ``_expect`` ``where`` names (a JSON path into the entry)."""
    if where.startswith("textPayload"):
        return str(entry["textPayload"])
    if where.startswith("jsonPayload."):
        return str(entry["jsonPayload"][where.split(".", 1)[1]])
    lines = entry["protoPayload"]["line"]
    one = re.match(r"protoPayload\.line\[(\d+)\]\.logMessage", where)
    if one:
        return str(lines[int(one.group(1))]["logMessage"])
    span = re.match(r"protoPayload\.line\[(\d+)\.\.(\d+)\]", where)
    if span:
        first, last = int(span.group(1)), int(span.group(2))
        return "\n".join(line["logMessage"] for line in lines[first : last + 1])
    raise KeyError(where)


def exception_as_fixture(exc: ExceptionInfo) -> dict[str, Any]:
    """A parsed exception in the fixture's ``exceptions`` item shape."""
    out: dict[str, Any] = {
        "type": exc.type,
        "message": exc.message,
        "has_traceback_header": exc.has_traceback_header,
        "relation_to_next": exc.relation_to_next,
        "frames": [
            {
                "file": f.file,
                "line": f.line,
                "function": f.function,
                "source": f.source,
                **({"repeated": f.repeated} if f.repeated else {}),
            }
            for f in exc.frames
        ],
    }
    if exc.syntax_error is not None:
        out["syntax_error"] = exc.syntax_error.to_json()
    if exc.sub_exceptions is not None:
        out["is_group"] = True
        out["sub_exceptions"] = [
            [exception_as_fixture(sub) for sub in chain] for chain in exc.sub_exceptions
        ]
    if exc.incomplete:
        out["incomplete"] = True
    if exc.message_truncated:
        out["message_truncated"] = True
    return out


def expected_exception(expect: dict[str, Any]) -> dict[str, Any]:
    """A fixture ``exceptions`` item without the keys that only explain."""
    out = {k: v for k, v in expect.items() if k != "notes_included_in_message"}
    if "sub_exceptions" in out:
        out["sub_exceptions"] = [
            [expected_exception(sub) for sub in chain]
            for chain in out["sub_exceptions"]
        ]
    return out


def traceback_as_fixture(tb: Traceback) -> dict[str, Any]:
    return {
        "preamble": tb.preamble,
        "truncated": tb.incomplete,
        "exceptions": [exception_as_fixture(exc) for exc in tb.exceptions],
    }


def expected_traceback(expect: dict[str, Any]) -> dict[str, Any]:
    return {
        "preamble": expect["preamble"],
        "truncated": expect["truncated"],
        "exceptions": [expected_exception(exc) for exc in expect["exceptions"]],
    }
