"""Property tests: any text, and real tracebacks cut and mangled.

The parser reads whatever a log holds, so it must never raise and never
take long, and what it reports must come from the text.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from corpus.expect import fixture_entries
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deployconsole.core.fingerprint import fingerprint
from deployconsole.core.logentry import build_record
from deployconsole.core.reassembly import Reassembler
from deployconsole.core.traceback_model import (
    CAUSE_SENTENCE,
    CONTEXT_SENTENCE,
    GROUP_HEADER,
    HEADER,
    ExceptionInfo,
    Traceback,
)
from deployconsole.core.tracebacks import (
    PREAMBLE_RECORD,
    parse_tracebacks,
    text_tail,
)

CORPUS = Path(__file__).resolve().parent / "corpus"
# Generous per example: a slow shared machine must not fail it, but a
# parser that backtracks or loops would.
FUZZ = settings(
    max_examples=150,
    deadline=timedelta(seconds=2),
    suppress_health_check=[HealthCheck.too_slow],
)


def _real_texts() -> list[str]:
    texts = []
    for entry, _expect in fixture_entries():
        text = entry.get("textPayload")
        if isinstance(text, str) and "Traceback" in text and len(text) < 20_000:
            texts.append(text)
    for path in sorted(CORPUS.glob("cpython-3.1[23]*.json")):
        cases = json.loads(path.read_text(encoding="utf-8"))["cases"]
        texts.extend(case["text"] for case in cases if len(case["text"]) < 20_000)
    return texts


REAL = _real_texts()

PIECES = [
    HEADER,
    "  + " + GROUP_HEADER,
    "  | " + GROUP_HEADER,
    '  File "/workspace/main.py", line 12, in handler',
    '  File "<frozen importlib._bootstrap>", line 1204, in _gcd_import',
    '  File "/workspace/bad.py", line 3',
    "    return compute(order)",
    "           ^^^^^^^^^^^^^^",
    "    ~~~~^^^^",
    "  [Previous line repeated 996 more times]",
    "ValueError: invalid literal for int() with base 10: 'x'",
    "KeyError",
    "shop.errors.PaymentDeclined: card declined",
    "",
    CAUSE_SENTENCE,
    CONTEXT_SENTENCE,
    "  +-+---------------- 1 ----------------",
    "    +---------------- 2 ----------------",
    "    +---------------- ... ----------------",
    "    | and 3 more exceptions",
    "    | Traceback (most recent call last):",
    '    |   File "/workspace/x.py", line 1, in y',
    "    | RuntimeError: inner",
    "  +------------------------------------",
    "[2025-11-18 09:00:00,000] ERROR in app: Exception on /x [GET]",
    "INFO:shop:done",
    "2025-11-18 09:16:54 admin[v1]  " + HEADER,
]


def _check(found: tuple[Traceback, ...], text: str) -> None:
    for tb in found:
        assert tb.exceptions
        json.dumps(tb.to_json())
        fingerprint(tb)
        parse_tracebacks(tb.format())
        for exc in tb.exceptions:
            _check_exception(exc, text)


def _check_exception(exc: ExceptionInfo, text: str) -> None:
    # Nothing invented: what is reported was in the text.
    if exc.type is not None:
        assert exc.type in text
    for frame in exc.frames:
        assert frame.file in text
        assert frame.function in text
    for chain in exc.sub_exceptions or ():
        for sub in chain:
            _check_exception(sub, text)


@FUZZ
@given(st.text(max_size=3000))
def test_any_text(text: str) -> None:
    _check(parse_tracebacks(text), text)
    _check(parse_tracebacks(text, preamble=PREAMBLE_RECORD, cut=True), text)
    text_tail(text)


@FUZZ
@given(
    st.lists(
        st.one_of(st.sampled_from(PIECES), st.text(max_size=40)),
        max_size=60,
    )
)
def test_traceback_shaped_text(pieces: list[str]) -> None:
    text = "\n".join(pieces)
    _check(parse_tracebacks(text), text)
    text_tail(text)


@FUZZ
@given(st.sampled_from(REAL), st.integers(min_value=0), st.booleans())
def test_real_tracebacks_cut_anywhere(text: str, where: int, cut: bool) -> None:
    head = text[: where % (len(text) + 1)]
    found = parse_tracebacks(head, cut=cut)
    _check(found, head)
    text_tail(head)


@FUZZ
@given(st.sampled_from(REAL), st.data())
def test_real_tracebacks_mangled(text: str, data: st.DataObject) -> None:
    lines = text.split("\n")
    for _ in range(data.draw(st.integers(min_value=1, max_value=6))):
        if not lines:
            break
        n = data.draw(st.integers(min_value=0, max_value=len(lines) - 1))
        action = data.draw(st.sampled_from(["drop", "repeat", "swap", "garble", "pad"]))
        if action == "drop":
            del lines[n]
        elif action == "repeat":
            lines.insert(n, lines[n])
        elif action == "swap" and n + 1 < len(lines):
            lines[n], lines[n + 1] = lines[n + 1], lines[n]
        elif action == "garble":
            lines[n] = data.draw(st.text(max_size=30)) + lines[n][len(lines[n]) // 2 :]
        else:
            lines[n] = "  | " + lines[n]
    mangled = "\n".join(lines)
    _check(parse_tracebacks(mangled), mangled)
    _check(parse_tracebacks(mangled, preamble=PREAMBLE_RECORD), mangled)


@FUZZ
@given(st.sampled_from(REAL), st.lists(st.integers(min_value=0), max_size=8))
def test_split_into_entries_never_breaks_reassembly(text: str, cuts: list[int]) -> None:
    lines = text.split("\n")
    points = sorted({c % (len(lines) + 1) for c in cuts} | {0, len(lines)})
    joiner = Reassembler()
    out = []
    for n, (start, end) in enumerate(zip(points, points[1:], strict=False)):
        chunk = "\n".join(lines[start:end])
        record = build_record(
            f"id{n}", 1000.0 + n / 1000, "log", "", "svc", "v1", "i1", "",
            kind="text", text=chunk,
        )  # fmt: skip
        out.extend(joiner.feed(record))
    out.extend(joiner.finish())
    for record in out:
        _check(record.tracebacks, text)
