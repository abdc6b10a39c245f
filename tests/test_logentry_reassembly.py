"""Joining tracebacks split over several entries (agents, one line each)."""

from __future__ import annotations

from typing import Any

import pytest
from corpus.expect import expected_traceback, fixture_entries, traceback_as_fixture

from deployconsole.core.logentry import (
    KIND_REQUEST,
    KIND_TEXT,
    LogRecord,
    build_record,
    record_from_json,
)
from deployconsole.core.reassembly import Reassembler
from deployconsole.core.traceback_model import CONTEXT_SENTENCE, HEADER


def _joined_from_fixture() -> tuple[list[LogRecord], dict[str, Any], dict[str, str]]:
    """Everything the fixture gives out, the expectations, insert id -> group."""
    joiner = Reassembler()
    out: list[LogRecord] = []
    expected: dict[str, Any] = {}
    groups: dict[str, str] = {}
    for entry, expect in fixture_entries():
        part = expect.get("fragment")
        if part:
            groups[entry["insertId"]] = part["group"]
            if "reassembled" in expect:
                expected[part["group"]] = expect["reassembled"]
        out.extend(joiner.feed(record_from_json(entry)))
    out.extend(joiner.finish())
    return out, expected, groups


@pytest.mark.parametrize(
    "group",
    ["split-py39-during-handling", "interleave-A-asyncio", "interleave-B-attribute"],
)
def test_split_tracebacks_are_joined(group: str) -> None:
    out, expected, groups = _joined_from_fixture()
    joined = [r for r in out if groups.get(r.insert_id) == group and r.tracebacks]
    assert len(joined) == 1
    (record,) = joined
    want = expected[group]
    assert record.text == want["text"].rstrip("\n")
    assert [traceback_as_fixture(tb) for tb in record.tracebacks] == [
        expected_traceback(tb) for tb in want["tracebacks"]
    ]


def test_fragments_are_not_given_out_twice() -> None:
    out, _expected, groups = _joined_from_fixture()
    fragments = [r for r in out if r.insert_id in groups]
    # Per group: the preamble entries (already given out as they came) and
    # the joined traceback.
    assert sorted(r.insert_id for r in fragments) == sorted(
        {r.insert_id for r in fragments}
    )
    assert len(fragments) == 1 + 1 + 2 + 1 + 1 + 1
    entries = len(fixture_entries())
    assert len(out) == entries - (4 - 2) - (6 - 3) - (18 - 2)


def _text(text: str, at: float, instance: str = "i1", severity: str = "") -> LogRecord:
    return build_record(
        f"{instance}-{at}", at, "log", severity, "svc", "v1", instance, "",
        kind=KIND_TEXT, text=text,
    )  # fmt: skip


FRAGMENTS = [
    "[2025-11-18 09:10:20,078] ERROR in app: Exception on /x [POST]",
    HEADER,
    '  File "/workspace/main.py", line 3, in view',
    "    return load()",
    "KeyError: 's-42'",
]


def test_live_tail_holds_then_flushes() -> None:
    joiner = Reassembler(gap=1.0, hold=2.0)
    given = []
    for n, line in enumerate(FRAGMENTS):
        given += joiner.feed(_text(line, 100.0 + n * 0.01), now=10.0 + n * 0.01)
    # The preamble line went out as it came; the traceback is held, since
    # the next part of its chain may follow.
    assert [r.text for r in given] == [FRAGMENTS[0]]
    assert joiner.pending() == 1
    assert joiner.flush(now=11.0) == []
    (done,) = joiner.flush(now=12.1)
    assert done.text == "\n".join(FRAGMENTS)
    assert done.tracebacks[0].preamble == FRAGMENTS[0]
    assert done.insert_id == "i1-100.01"
    assert joiner.pending() == 0


def test_chain_sentence_continues_a_whole_traceback() -> None:
    joiner = Reassembler()
    given = []
    given += joiner.feed(_text("\n".join(FRAGMENTS[1:]), 100.0, severity="ERROR"))
    given += joiner.feed(_text(CONTEXT_SENTENCE, 100.001))
    given += joiner.feed(
        _text("\n".join(FRAGMENTS[1:]).replace("KeyError", "OSError"), 100.002)
    )
    given += joiner.finish()
    (record,) = given
    assert [(e.type, e.relation_to_next) for e in record.tracebacks[0].exceptions] == [
        ("KeyError", "context"),
        ("OSError", None),
    ]
    assert record.severity == "ERROR"


def test_interleaved_instances_are_kept_apart() -> None:
    joiner = Reassembler()
    out = []
    other = [
        line.replace("main.py", "worker.py").replace("KeyError", "OSError")
        for line in FRAGMENTS
    ]
    for n, (mine, theirs) in enumerate(zip(FRAGMENTS, other, strict=True)):
        out += joiner.feed(_text(mine, 100.0 + n / 100, "a"))
        out += joiner.feed(_text(theirs, 100.0 + n / 100 + 0.001, "b"))
    out += joiner.finish()
    types = sorted(r.tracebacks[0].type for r in out if r.tracebacks)
    assert types == ["KeyError", "OSError"]


def test_far_apart_lines_are_not_joined() -> None:
    joiner = Reassembler(gap=2.0)
    out = joiner.feed(_text(HEADER, 100.0))
    out += joiner.feed(_text(FRAGMENTS[2], 130.0))
    out += joiner.finish()
    assert all(not r.tracebacks for r in out)
    assert [r.text for r in out] == [HEADER, FRAGMENTS[2]]


def test_unrelated_line_releases_the_traceback_at_once() -> None:
    joiner = Reassembler()
    assert joiner.feed(_text("\n".join(FRAGMENTS[1:]), 100.0)) == []
    released = joiner.feed(_text("INFO:app:next request", 100.5))
    assert [bool(r.tracebacks) for r in released] == [True, False]


def test_request_logs_and_other_kinds_pass_through() -> None:
    joiner = Reassembler()
    request = build_record(
        "r1", 1.0, "log", "", "svc", "v1", "i1", "", "GET", "/", 500,
        kind=KIND_REQUEST, request_lines=[("ERROR", "t", HEADER)],
    )  # fmt: skip
    assert joiner.feed(request) == [request]
    assert joiner.pending() == 0


def test_entries_without_instance_join_by_trace() -> None:
    joiner = Reassembler()
    out = []
    for n, line in enumerate(FRAGMENTS[1:]):
        record = build_record(
            f"t{n}", 100.0 + n / 100, "log", "", "svc", "v1", "", "projects/p/traces/1",
            kind=KIND_TEXT, text=line,
        )  # fmt: skip
        out += joiner.feed(record)
    out += joiner.finish()
    (record,) = out
    assert record.tracebacks[0].type == "KeyError"


def test_idle_instances_are_forgotten() -> None:
    joiner = Reassembler(gap=1.0, hold=1.0)
    joiner.feed(_text("INFO:app:hello", 100.0, "gone"), now=0.0)
    joiner.flush(now=5.0)
    assert joiner._streams  # still remembered for a possible preamble
    joiner.flush(now=100.0)
    assert not joiner._streams


def test_a_chain_cut_before_its_separator_is_joined() -> None:
    # A log agent that cuts before "During handling..." puts the sentence at
    # the start of the next entry, together with the next traceback.
    from deployconsole.core.logentry import KIND_TEXT, build_record
    from deployconsole.core.reassembly import Reassembler

    first = (
        "Traceback (most recent call last):\n"
        '  File "/workspace/main.py", line 10, in load\n'
        "    rows = db.query()\n"
        "sqlite3.OperationalError: database is locked"
    )
    second = (
        "During handling of the above exception, another exception occurred:\n"
        "\n"
        "Traceback (most recent call last):\n"
        '  File "/workspace/main.py", line 14, in handler\n'
        "    raise ServiceError('retry later')\n"
        "main.ServiceError: retry later"
    )
    reassembler = Reassembler()
    out = []
    for number, text in enumerate((first, second)):
        record = build_record(
            insert_id=f"e{number}",
            timestamp=100.0 + number * 0.01,
            log_name="projects/p/logs/stderr",
            severity="",
            service="default",
            version="v1",
            instance="i-1",
            trace="",
            kind=KIND_TEXT,
            text=text,
        )
        out += reassembler.feed(record)
    out += reassembler.finish()
    (joined,) = out
    (traceback,) = joined.tracebacks
    assert [e.type for e in traceback.exceptions] == [
        "sqlite3.OperationalError",
        "main.ServiceError",
    ]
    assert traceback.exceptions[0].relation_to_next == "context"
    assert joined.insert_id == "e0"


NOTED = [
    HEADER,
    '  File "/workspace/main.py", line 3, in view',
    "    return load()",
    "KeyError: 's-42'",
    "while loading cart 7",  # notes (3.11+), one entry each
    "retried 3 times",
]


def _joined(
    lines: list[str], times: list[float], later_log: str = "log"
) -> list[LogRecord]:
    """``lines`` fed as entries of one instance; those after the exception
    line in ``later_log``."""
    joiner = Reassembler()
    out: list[LogRecord] = []
    for n, (line, at) in enumerate(zip(lines, times, strict=True)):
        log = "log" if n < 4 else later_log
        record = build_record(
            f"e{n}", at, log, "", "svc", "v1", "i1", "", kind=KIND_TEXT, text=line
        )
        out += joiner.feed(record)
    return out + joiner.finish()


def test_notes_written_as_entries_of_their_own_are_joined() -> None:
    (record,) = _joined(NOTED, [100.0 + n * 0.001 for n in range(len(NOTED))])
    (exception,) = record.tracebacks[0].exceptions
    assert exception.message == "'s-42'\nwhile loading cart 7\nretried 3 times"
    assert record.insert_id == "e0"


def test_lines_after_a_traceback_stay_apart_when_late_or_from_another_log() -> None:
    late = _joined(NOTED, [100.0, 100.001, 100.002, 100.003, 100.5, 100.501])
    assert [r.text for r in late[1:]] == NOTED[4:]
    assert late[0].tracebacks[0].exceptions[0].message == "'s-42'"
    soon = [100.0 + n * 0.001 for n in range(len(NOTED))]
    elsewhere = _joined(NOTED, soon, later_log="stdout")
    assert [r.text for r in elsewhere[1:]] == NOTED[4:]


def test_a_log_record_right_after_a_traceback_is_not_its_message() -> None:
    lines = NOTED[:4] + ["INFO:app:next request", "[2025-11-18 09:10:21] GET /"]
    out = _joined(lines, [100.0 + n * 0.001 for n in range(len(lines))])
    assert [r.text for r in out[1:]] == lines[4:]
    assert out[0].tracebacks[0].exceptions[0].message == "'s-42'"
