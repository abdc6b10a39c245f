"""The traceback parser on the fixture entries and on shapes worth naming."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from corpus.expect import (
    case_names,
    expected_traceback,
    fixture,
    text_at,
    traceback_as_fixture,
)

from deployconsole.core.logentry import CUT_BYTES, record_from_json
from deployconsole.core.traceback_model import (
    CAUSE_SENTENCE,
    HEADER,
    ExceptionInfo,
    Frame,
    Traceback,
)
from deployconsole.core.tracebacks import (
    PREAMBLE_RECORD,
    STATE_COMPLETE,
    STATE_NONE,
    STATE_OPEN,
    might_contain_traceback,
    parse_tracebacks,
    text_tail,
)


def _parse_where(entry: dict[str, Any], expect: dict[str, Any]) -> list[Traceback]:
    found: list[Traceback] = []
    wheres: list[str] = []
    for tb in expect.get("tracebacks") or []:
        if tb["where"] not in wheres:
            wheres.append(tb["where"])
    for where in wheres:
        text = text_at(entry, where)
        found.extend(parse_tracebacks(text, cut=len(text.encode()) >= CUT_BYTES))
    return found


@pytest.mark.parametrize("case", case_names())
def test_fixture_parses_exactly(case: str) -> None:
    entry, expect = fixture(case)
    wanted = [expected_traceback(tb) for tb in expect.get("tracebacks") or []]
    got = [traceback_as_fixture(tb) for tb in _parse_where(entry, expect)]
    assert got == wanted


@pytest.mark.parametrize("case", case_names())
def test_normalised_entry_holds_the_same_tracebacks(case: str) -> None:
    entry, expect = fixture(case)
    record = record_from_json(entry)
    if not expect.get("tracebacks"):
        # Fragments of split tracebacks hold none on their own either.
        assert record.tracebacks == ()
        return
    assert [traceback_as_fixture(tb) for tb in record.tracebacks] == [
        expected_traceback(tb) for tb in expect["tracebacks"]
    ]


@pytest.mark.parametrize("case", case_names())
def test_format_renders_what_parses_back(case: str) -> None:
    entry, _expect = fixture(case)
    for tb in record_from_json(entry).tracebacks:
        (again,) = parse_tracebacks(tb.format(), cut=tb.incomplete)
        assert again.exceptions == tb.exceptions
        assert again.preamble == tb.preamble or tb.preamble is None


def test_to_json_has_the_errors_shape() -> None:
    entry, _ = fixture("py312_flask_nested_group")
    (tb,) = record_from_json(entry).tracebacks
    shape = tb.to_json()
    assert set(shape) == {"preamble", "incomplete", "exceptions"}
    (group,) = shape["exceptions"]
    assert set(group) == {
        "type",
        "message",
        "relation_to_next",
        "frames",
        "sub_exceptions",
    }
    assert set(group["frames"][0]) == {"file", "line", "function", "source"}
    inner = group["sub_exceptions"][0][0]
    assert inner["type"] == "ExceptionGroup"
    assert "sub_exceptions" in inner
    assert "sub_exceptions" not in inner["sub_exceptions"][0][0]
    json.dumps(shape)


def test_to_json_marks_repeated_frames_and_syntax_errors() -> None:
    entry, _ = fixture("py39_flask_recursion")
    frames = record_from_json(entry).tracebacks[0].to_json()["exceptions"][0]["frames"]
    assert [f.get("repeated") for f in frames[-3:]] == [None, 984, None]
    entry, _ = fixture("py311_gunicorn_boot_syntaxerror")
    (exc,) = record_from_json(entry).tracebacks[0].to_json()["exceptions"]
    assert exc["syntax_error"]["file"] == "/workspace/shop/reports.py"


def test_text_without_markers_skips_the_parser() -> None:
    assert not might_contain_traceback("INFO:shop:order 4711 paid")
    assert parse_tracebacks("INFO:shop:order 4711 paid") == ()
    assert might_contain_traceback(HEADER)


def test_stack_dump_is_not_an_exception() -> None:
    entry, _ = fixture("py311_stack_info_not_exception")
    assert parse_tracebacks(entry["textPayload"]) == ()


def test_lone_header_is_no_traceback_but_an_open_end() -> None:
    assert parse_tracebacks(HEADER) == ()
    assert text_tail(HEADER).state == STATE_OPEN
    assert text_tail(CAUSE_SENTENCE).state == STATE_OPEN
    assert text_tail("INFO:x:y").state == STATE_NONE
    entry, _ = fixture("py39_agent_split_fragment_2")
    assert text_tail(entry["textPayload"]).state == STATE_COMPLETE
    entry, _ = fixture("py312_traceback_inside_cron_output")
    assert text_tail(entry["textPayload"]).state == STATE_NONE


def test_cut_inside_a_frame_line_invents_nothing() -> None:
    text = HEADER + '\n  File "/workspace/main.py", line 3, in f\n    g()\n  File "/wor'
    (tb,) = parse_tracebacks(text)
    assert tb.incomplete
    (exc,) = tb.exceptions
    assert exc.type is None and exc.message is None
    assert [f.file for f in exc.frames] == ["/workspace/main.py"]


def test_message_stops_at_the_next_log_record() -> None:
    text = "\n".join(
        [
            HEADER,
            '  File "/workspace/a.py", line 1, in <module>',
            "ValueError: first line",
            "second line",
            "",
            "more after a blank line",
            "[2025-11-18 09:00:00,000] INFO in app: next request",
        ]
    )
    (tb,) = parse_tracebacks(text)
    assert tb.final.message == "first line\nsecond line\n\nmore after a blank line"


def test_chain_sentence_without_blank_lines() -> None:
    # What a log agent leaves after dropping the blank lines.
    text = "\n".join(
        [
            HEADER,
            '  File "/workspace/a.py", line 1, in f',
            "KeyError: 'k'",
            CAUSE_SENTENCE,
            HEADER,
            '  File "/workspace/a.py", line 3, in g',
            "RuntimeError: wrapped",
        ]
    )
    (tb,) = parse_tracebacks(text)
    assert [(e.type, e.relation_to_next) for e in tb.exceptions] == [
        ("KeyError", "cause"),
        ("RuntimeError", None),
    ]


def test_every_line_prefixed_by_the_log_viewer() -> None:
    text = "\n".join(
        [
            "2025-11-18 09:16:54 admin[v1]  " + HEADER,
            '2025-11-18 09:16:54 admin[v1]    File "/workspace/main.py", line 18, in f',
            "2025-11-18 09:16:54 admin[v1]      return order.totl",
            "2025-11-18 09:16:55 admin[v1]  AttributeError: no attribute 'totl'",
            "2025-11-18 09:16:56 admin[v1]  [2025-11-18 09:16:56,000] INFO in app: x",
        ]
    )
    (tb,) = parse_tracebacks(text)
    assert tb.final.type == "AttributeError"
    assert tb.final.message == "no attribute 'totl'"
    assert tb.final.frames == (
        Frame("/workspace/main.py", 18, "f", "return order.totl"),
    )


def test_header_at_the_end_of_a_log_line() -> None:
    text = "ERROR something failed: " + HEADER + "\n"
    text += '  File "/workspace/a.py", line 1, in <module>\nValueError: v'
    (tb,) = parse_tracebacks(text)
    assert tb.preamble == "ERROR something failed:"
    assert tb.final.type == "ValueError"


def test_colours_and_windows_line_ends() -> None:
    text = (
        "\x1b[35m" + HEADER + "\x1b[0m\r\n"
        '  File \x1b[35m"C:\\app\\main.py"\x1b[0m, line 2, in \x1b[35mrun\x1b[0m\r\n'
        "    run()\r\n"
        "\x1b[1;35mKeyError\x1b[0m: \x1b[35m'x'\x1b[0m\r\n"
    )
    (tb,) = parse_tracebacks(text)
    assert tb.final == ExceptionInfo(
        "KeyError", "'x'", (Frame("C:\\app\\main.py", 2, "run", "run()"),)
    )


def test_syntax_error_without_header() -> None:
    text = "\n".join(
        [
            '  File "/workspace/main.py", line 3',
            "    def f(",
            "         ^",
            "SyntaxError: '(' was never closed",
        ]
    )
    (tb,) = parse_tracebacks(text)
    exc = tb.final
    assert (exc.type, exc.has_traceback_header, exc.frames) == (
        "SyntaxError",
        False,
        (),
    )
    assert exc.syntax_error is not None
    assert (exc.syntax_error.line, exc.syntax_error.source) == (3, "def f(")


def test_record_preamble_for_plain_log_files() -> None:
    text = "\n".join(
        [
            "INFO:app:started",
            "ERROR:asyncio:Task exception was never retrieved",
            "future: <Task finished name='t'>",
            HEADER,
            '  File "/workspace/a.py", line 1, in f',
            "OSError: boom",
        ]
    )
    (tb,) = parse_tracebacks(text, preamble=PREAMBLE_RECORD)
    assert tb.preamble == (
        "ERROR:asyncio:Task exception was never retrieved\n"
        "future: <Task finished name='t'>"
    )
    (whole,) = parse_tracebacks(text)
    assert whole.preamble is not None and whole.preamble.startswith("INFO:app:started")
    assert tb.start_line == 3


def test_several_tracebacks_and_their_lines() -> None:
    one = HEADER + '\n  File "/workspace/a.py", line 1, in f\nKeyError: 1'
    text = "start\n" + one + "\nbetween\n" + one.replace("KeyError", "IndexError")
    found = parse_tracebacks(text, preamble=PREAMBLE_RECORD)
    assert [(tb.start_line, tb.preamble, tb.type) for tb in found] == [
        (1, "start", "KeyError"),
        (5, "between", "IndexError"),
    ]


DEPTH_FIXTURES = Path(__file__).resolve().parent / "fixtures" / "max-group-depth"


@pytest.mark.parametrize("python", ["3.11.7", "3.13.0"])
def test_a_group_deeper_than_cpython_prints_ends_there_and_the_chain_goes_on(
    python: str,
) -> None:
    # Printed by fixtures/max-group-depth/importer.py: groups "level 11" to
    # "level 1", the last shown as "... (max_group_depth is 10)", are the
    # cause of a RuntimeError.
    text = (DEPTH_FIXTURES / f"cpython-{python}.txt").read_text(encoding="utf-8")
    (tb,) = parse_tracebacks(text)
    assert not tb.incomplete
    group, error = tb.exceptions
    assert (error.type, error.message) == ("RuntimeError", "import failed")
    assert [f.function for f in error.frames] == ["<module>", "main"]
    assert group.relation_to_next == "cause"
    shown = []
    level: ExceptionInfo | None = group
    while level is not None:
        shown.append(level.message)
        assert len(level.frames) == 2
        subs = level.sub_exceptions
        assert subs is not None
        level = subs[0][0] if subs else None
    # Ten levels shown; level 1 is not printed, so not parsed either.
    assert shown == [f"level {n} (1 sub-exception)" for n in range(11, 1, -1)]
