"""Fingerprints and error groups: what stays together and what does not."""

from __future__ import annotations

from typing import Any

import pytest
from corpus.expect import fixture, fixture_entries

from deployconsole.core.fingerprint import (
    fingerprint,
    fingerprint_inputs,
    in_app_key,
)
from deployconsole.core.groups import ErrorGroups, iso_time
from deployconsole.core.logentry import build_record, record_from_json
from deployconsole.core.reassembly import Reassembler
from deployconsole.core.traceback_model import HEADER, Traceback
from deployconsole.core.tracebacks import parse_tracebacks


def _has_group(tb: Traceback) -> bool:
    return any(exc.sub_exceptions for exc in tb.exceptions)


def _fixture_fingerprints() -> dict[str, set[str]]:
    """Case -> fingerprints, with split entries joined as the tail would.

    A joined traceback counts for the case of its group's first fragment,
    where the fixture puts the ``reassembled`` expectation.
    """
    out: dict[str, set[str]] = {}
    leaders: dict[str, str] = {}
    owner: dict[str, str] = {}
    records = []
    for entry, expect in fixture_entries():
        record = record_from_json(entry)
        records.append(record)
        case = expect["case"]
        out[case] = {fingerprint(tb) for tb in record.tracebacks}
        owner[record.insert_id] = case
        part = expect.get("fragment")
        if part:
            leaders.setdefault(part["group"], case)
            owner[record.insert_id] = leaders[part["group"]]
    joiner = Reassembler()
    joined = [done for record in records for done in joiner.feed(record)]
    for done in joined + joiner.finish():
        case = owner[done.insert_id]
        if case in leaders.values():
            out[case] |= {fingerprint(tb) for tb in done.tracebacks}
    return out


def test_fingerprint_is_the_fixture_group_hint() -> None:
    checked = 0
    for entry, expect in fixture_entries():
        for tb in record_from_json(entry).tracebacks:
            if expect.get("group_hint") and not _has_group(tb):
                assert fingerprint(tb) == expect["group_hint"], expect["case"]
                assert fingerprint_inputs(tb) == expect["fingerprint_inputs"]
                checked += 1
    assert checked > 30


def test_fixture_groups_are_the_hinted_groups() -> None:
    hints: dict[str, str] = {}
    for _entry, expect in fixture_entries():
        hint = expect.get("group_hint") or (expect.get("reassembled") or {}).get(
            "group_hint"
        )
        if hint:
            hints[expect["case"]] = hint
    fingerprints = _fixture_fingerprints()
    mine = {}
    for case in hints:
        assert fingerprints[case], case
        mine[case] = fingerprints[case]
    for a in hints:
        for b in hints:
            same = hints[a] == hints[b]
            assert bool(mine[a] & mine[b]) == same, (a, b)


def test_same_group_as_holds() -> None:
    fingerprints = _fixture_fingerprints()
    pairs = [
        (e["case"], e["same_group_as"])
        for _, e in fixture_entries()
        if "same_group_as" in e
    ]
    assert pairs
    for case, other in pairs:
        assert fingerprints[case] == fingerprints[other], (case, other)


def _one(text: str) -> Traceback:
    (tb,) = parse_tracebacks(text)
    return tb


BASE = "\n".join(
    [
        HEADER,
        '  File "/layers/google.python.pip/pip/lib/python3.12/site-packages/flask/'
        'app.py", line 880, in full_dispatch_request',
        "    rv = self.dispatch_request()",
        '  File "/workspace/main.py", line 12, in price',
        '    return jsonify({"label": prices.price_label(sku)})',
        '  File "/workspace/admin/prices.py", line 5, in price_label',
        '    return f"{PRICES[sku] / 100:.2f}"',
        "KeyError: 'SKU-404'",
    ]
)


def test_moved_lines_other_values_and_library_frames_stay_together() -> None:
    key = fingerprint(_one(BASE))
    moved = BASE.replace("line 12,", "line 19,").replace("line 5,", "line 9,")
    assert fingerprint(_one(moved)) == key
    assert fingerprint(_one(BASE.replace("SKU-404", "SKU-9"))) == key
    upgraded = BASE.replace("python3.12", "python3.13").replace("line 880", "line 902")
    assert fingerprint(_one(upgraded)) == key
    edited = BASE.replace("    return jsonify", "    return make_response")
    assert fingerprint(_one(edited)) == key


def test_other_type_or_call_path_splits() -> None:
    key = fingerprint(_one(BASE))
    assert fingerprint(_one(BASE.replace("KeyError", "IndexError"))) != key
    assert fingerprint(_one(BASE.replace("in price_label", "in price_text"))) != key
    assert fingerprint(_one(BASE.replace("admin/prices.py", "admin/labels.py"))) != key


def test_python27_version_directories_stay_together() -> None:
    text = "\n".join(
        [
            HEADER,
            '  File "/base/data/home/apps/s~shop/20201001t120000.4299237479/'
            'handlers/o.py", line 37, in get',
            "    order_id = int(self.request.get('id'))",
            "ValueError: invalid literal for int() with base 10: ''",
        ]
    )
    other = text.replace("20201001t120000.4299237479", "20201002t093000.4301234567")
    assert fingerprint(_one(text)) == fingerprint(_one(other))


@pytest.mark.parametrize(
    ("path", "key"),
    [
        ("/workspace/shop/orders.py", "shop/orders.py:f"),
        ("/srv/main.py", "main.py:f"),
        ("/base/data/home/apps/s~a/v1.123/lib/requests/api.py", None),
        ("/base/alloc/tmpfs/dynamic_runtimes/python27g/x/webapp2.py", None),
        ("/usr/local/lib/python3.12/json/decoder.py", None),
        ("/root/.venv/lib/python3.11/site-packages/flask/app.py", None),
        ("C:\\Program Files\\Python311\\Lib\\json\\decoder.py", None),
        ("C:\\Users\\me\\tools\\sync.py", "sync.py:f"),
        ("<frozen importlib._bootstrap>", None),
    ],
)
def test_in_app_frames(path: str, key: str | None) -> None:
    assert in_app_key(path, "f") == key


def test_recursion_depth_does_not_matter() -> None:
    def recursion(depth: int) -> str:
        frames = ['  File "/workspace/a.py", line 3, in walk\n    walk(n)'] * 3
        frames.append(f"  [Previous line repeated {depth} more times]")
        frames.append('  File "/workspace/b.py", line 9, in back\n    back(n)')
        frames += ['  File "/workspace/a.py", line 3, in walk\n    walk(n)'] * 2
        return "\n".join([HEADER, *frames, "RecursionError: depth"])

    assert fingerprint(_one(recursion(10))) == fingerprint(_one(recursion(990)))


def test_sub_exception_order_does_not_matter() -> None:
    entry, _ = fixture("py313_flask_taskgroup")
    text = entry["textPayload"]
    first = text[text.index("    +-+") if "    +-+" in text else 0 :]
    assert first  # the fixture has two sub-exceptions
    a, b = "admin.sync.UpstreamError: eu: 503 from inventory-sync", "TimeoutError: asia"
    swapped = text.replace(a, "@@").replace("TimeoutError: asia", a).replace("@@", b)
    swapped = (
        swapped.replace("line 11, in push", "@@")
        .replace("line 13, in push", "line 11, in push")
        .replace("@@", "line 13, in push")
    )
    assert swapped != text
    assert fingerprint(_one(swapped)) == fingerprint(_one(text))


def _record(text: str, at: float, version: str, service: str = "default"):  # type: ignore[no-untyped-def]
    return build_record(
        "i", at, "log", "ERROR", service, version, "inst", "", text=text, kind="text"
    )


def test_error_groups_count_and_remember() -> None:
    groups = ErrorGroups()
    first = _record(BASE, 100.0, "v1")
    group, new = groups.add(first, first.tracebacks[0])
    assert new and group.count == 1 and group.first_version == "v1"
    later = _record(BASE.replace("SKU-404", "SKU-7"), 200.0, "v2", "api")
    group, new = groups.add(later, later.tracebacks[0])
    assert not new
    assert (group.count, group.first_seen, group.last_seen) == (2, 100.0, 200.0)
    assert group.services == ("api", "default") and group.versions == ("v1", "v2")
    assert group.message == "'SKU-7'" and group.type == "KeyError"
    assert group.first_version == "v1"
    # Arriving late but older: first_version follows the time, not arrival.
    early = _record(BASE, 50.0, "v0")
    group, _ = groups.add(early, early.tracebacks[0])
    assert (group.first_version, group.first_seen, group.message) == (
        "v0",
        50.0,
        "'SKU-7'",
    )
    other = _record(BASE.replace("KeyError", "IndexError"), 300.0, "v2")
    groups.add(other, other.tracebacks[0])
    assert [g.count for g in groups.ranked()] == [3, 1]
    assert len(groups) == 2 and group.fingerprint in groups
    assert groups.get(group.fingerprint) == group


def test_new_in_version_two() -> None:
    groups = ErrorGroups()
    old = _record(BASE, 100.0, "v1")
    groups.add(old, old.tracebacks[0])
    new_error = _record(BASE.replace("KeyError", "TypeError"), 150.0, "v2")
    group, is_new = groups.add(new_error, new_error.tracebacks[0])
    assert is_new and group.first_version == "v2"


def test_group_json_shape() -> None:
    groups = ErrorGroups()
    record = _record(BASE, 1763456414.9, "v1")
    group, _ = groups.add(record, record.tracebacks[0])
    assert group.to_json() == {
        "fingerprint": group.fingerprint,
        "type": "KeyError",
        "message": "'SKU-404'",
        "count": 1,
        "first_seen": "2025-11-18T09:00:14.900000Z",
        "last_seen": "2025-11-18T09:00:14.900000Z",
        "services": ["default"],
        "versions": ["v1"],
        "first_version": "v1",
    }
    assert iso_time(None) is None


def _numbered(n: int, at: float) -> Any:
    # Another exception type per n: another group each.
    return _record(BASE.replace("KeyError", f"Error{n}"), at, "v1")


def test_a_limit_lets_the_group_seen_least_recently_go() -> None:
    groups = ErrorGroups(limit=3)
    keys = []
    for n in range(3):
        record = _numbered(n, 100.0 + n)
        group, _ = groups.add(record, record.tracebacks[0])
        keys.append(group.fingerprint)
    # Group 0 is seen again, so group 1 is now the least recently seen.
    again = _numbered(0, 110.0)
    groups.add(again, again.tracebacks[0])
    assert groups.take_let_go() == []
    fourth = _numbered(3, 120.0)
    group, is_new = groups.add(fourth, fourth.tracebacks[0])
    assert is_new and len(groups) == 3
    assert keys[1] not in groups and keys[0] in groups and keys[2] in groups
    assert groups.take_let_go() == [keys[1]] and groups.take_let_go() == []
    assert groups.let_go == 1
    assert groups.get(keys[0]).count == 2  # type: ignore[union-attr]
    # Seen again after it was let go, it starts over.
    back = _numbered(1, 130.0)
    group, is_new = groups.add(back, back.tracebacks[0])
    assert is_new and group.count == 1 and group.first_seen == 130.0
    assert groups.take_let_go() == [keys[2]]
    with pytest.raises(ValueError, match="at least 1"):
        ErrorGroups(limit=0)


def test_without_a_limit_every_group_stays() -> None:
    groups = ErrorGroups()
    for n in range(50):
        record = _numbered(n, float(n))
        groups.add(record, record.tracebacks[0])
    assert len(groups) == 50 and groups.take_let_go() == [] and groups.let_go == 0
