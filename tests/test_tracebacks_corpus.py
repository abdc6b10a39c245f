"""The parser against tracebacks printed by real interpreters.

tests/corpus/ holds, for CPython 2.7 and 3.6 to 3.13, the text each printed
for the corpus app's scenarios (through logging and through the default
excepthook) and what the live exception objects said (see gen_corpus.py).
Parsing the text must give back the live objects' chain, types, messages,
frames and groups.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from deployconsole.core.traceback_model import HEADER, ExceptionInfo, Traceback
from deployconsole.core.tracebacks import parse_tracebacks

CORPUS = Path(__file__).resolve().parent / "corpus"


def _cases() -> list[Any]:
    params = []
    for path in sorted(CORPUS.glob("cpython-*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        for case in document["cases"]:
            name = f"{document['python']}-{case['producer']}-{case['scenario']}"
            params.append(pytest.param(case, id=name))
    return params


CASES = _cases()


def test_corpus_covers_every_interpreter() -> None:
    versions = {path.name for path in CORPUS.glob("cpython-*.json")}
    for version in ("2.7", "3.6", "3.7", "3.8", "3.9", "3.10", "3.11", "3.12", "3.13"):
        assert any(name.startswith(f"cpython-{version}.") for name in versions)
    assert len(CASES) > 500


def _message_matches(got: str | None, want: str) -> bool:
    if got == want:
        return True
    # From 3.10 the printer appends a suggestion that str() does not have.
    suggestion = got is not None and got.startswith(want + ". Did you ")
    return suggestion and got is not None and got.endswith("?")


def _source_matches(got: str | None, want: dict[str, Any]) -> bool:
    if "lines" not in want:
        return got == want["source"]
    if got == want["lines"]:
        return True
    # 3.13 prints long statements with "...<N lines>..." in the middle.
    return (
        got is not None
        and got.split("\n", 1)[0].strip() == want["source"]
        and "...<" in got
    )


def _compare(got: ExceptionInfo, want: dict[str, Any], where: str) -> list[str]:
    problems = []

    def differ(field: str, mine: object, theirs: object) -> None:
        problems.append(f"{where}.{field}: parsed {mine!r}, live {theirs!r}")

    if got.type != want["type"]:
        differ("type", got.type, want["type"])
    if not _message_matches(got.message, want["message"]):
        differ("message", got.message, want["message"])
    if got.relation_to_next != want["relation_to_next"]:
        differ("relation_to_next", got.relation_to_next, want["relation_to_next"])
    if got.has_traceback_header != want["has_traceback_header"]:
        differ("has_traceback_header", got.has_traceback_header, True)
    if got.incomplete:
        differ("incomplete", True, False)
    frames = want["frames"]
    if len(got.frames) != len(frames):
        differ(
            "frames", [f.function for f in got.frames], [f["function"] for f in frames]
        )
    else:
        for n, (frame, live) in enumerate(zip(got.frames, frames, strict=True)):
            mine = (frame.file, frame.line, frame.function, frame.repeated)
            theirs = (
                live["file"],
                live["line"],
                live["function"],
                live.get("repeated", 0),
            )
            if mine != theirs:
                differ(f"frames[{n}]", mine, theirs)
            if not _source_matches(frame.source, live):
                differ(
                    f"frames[{n}].source",
                    frame.source,
                    live.get("lines", live["source"]),
                )
    location = want.get("syntax_error")
    if location is not None:
        mine_loc = got.syntax_error
        found = (
            None
            if mine_loc is None
            else (mine_loc.file, mine_loc.line, mine_loc.source)
        )
        expected = (location["file"], location["line"], location["source"])
        if found != expected:
            differ("syntax_error", found, expected)
    elif got.syntax_error is not None:
        differ("syntax_error", got.syntax_error, None)
    subs = want.get("sub_exceptions")
    if subs is None:
        if got.sub_exceptions is not None:
            differ("sub_exceptions", len(got.sub_exceptions), None)
        return problems
    if got.sub_exceptions is None or len(got.sub_exceptions) != len(subs):
        differ(
            "sub_exceptions", got.sub_exceptions and len(got.sub_exceptions), len(subs)
        )
        return problems
    if got.more_sub_exceptions != want["more_sub_exceptions"]:
        differ(
            "more_sub_exceptions", got.more_sub_exceptions, want["more_sub_exceptions"]
        )
    for n, (mine_chain, live_chain) in enumerate(
        zip(got.sub_exceptions, subs, strict=True)
    ):
        problems += _compare_chain(mine_chain, live_chain, f"{where}.sub[{n}]")
    return problems


def _compare_chain(
    got: tuple[ExceptionInfo, ...], want: list[dict[str, Any]], where: str
) -> list[str]:
    if len(got) != len(want):
        return [
            f"{where}: parsed {[e.type for e in got]}, live {[e['type'] for e in want]}"
        ]
    problems = []
    for n, (mine, live) in enumerate(zip(got, want, strict=True)):
        problems += _compare(mine, live, f"{where}[{n}]")
    return problems


def _expected_preamble(case: dict[str, Any]) -> str | None:
    first = case["expect"]["exceptions"][0]
    if first["has_traceback_header"]:
        return case["expect"]["preamble"]
    # A chain that starts with an exception that was never raised has no
    # header of its own; the preamble is all the text before the first
    # header (as in the fixtures), that exception included.
    lines = re.sub(r"\x1b\[[0-9;]*m", "", case["text"]).split("\n")
    header = next(n for n, line in enumerate(lines) if line.endswith(HEADER))
    return "\n".join(lines[:header]).strip("\n") or None


@pytest.mark.parametrize("case", CASES)
def test_parse_matches_live_exception(case: dict[str, Any]) -> None:
    found = parse_tracebacks(case["text"])
    assert len(found) == 1, case["text"]
    tb = found[0]
    assert not tb.incomplete
    assert tb.preamble == _expected_preamble(case)
    problems = _compare_chain(tb.exceptions, case["expect"]["exceptions"], "chain")
    assert not problems, "\n".join(problems) + "\n\n" + case["text"]


@pytest.mark.parametrize("case", CASES)
def test_format_parses_back_to_the_same(case: dict[str, Any]) -> None:
    (tb,) = parse_tracebacks(case["text"])
    again = parse_tracebacks(tb.format())
    assert again == (Traceback(tb.exceptions, tb.preamble, tb.incomplete, 0),) or (
        again[0].exceptions == tb.exceptions
    )
