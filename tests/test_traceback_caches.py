"""The parser's caches never change a parse: warm equals cold."""

from __future__ import annotations

import pytest

from deployconsole.core import fingerprint as fingerprints
from deployconsole.core import traceback_frames
from deployconsole.core.fingerprint import fingerprint
from deployconsole.core.tracebacks import parse_tracebacks

HEAD = """\
Traceback (most recent call last):
  File "/workspace/main.py", line 3, in <module>
    compile(source, "rules.py", "exec")
  File "rules.py", line 1
    def rule(:
"""

# The same frames and location block, then different lines after them.
TEXTS = [
    HEAD + "             ^\nSyntaxError: invalid syntax\n",
    HEAD + "SyntaxError: invalid syntax\n",
    HEAD + "             ^\n             ^\nSyntaxError: invalid syntax\n",
    HEAD + "    more source\nSyntaxError: invalid syntax\n",
    HEAD,
    """\
Traceback (most recent call last):
  File "/workspace/main.py", line 3, in <module>
    handle()
  File "/workspace/shop/orders.py", line 9, in handle
    raise KeyError(order)
KeyError: 'A-1'
""",
    """\
Traceback (most recent call last):
  File "/workspace/main.py", line 3, in <module>
    handle()
  File "/workspace/shop/orders.py", line 9, in handle
    raise KeyError(order)
    ~~~~~~~~~~~~~~^^^^^^^
KeyError: 'A-2'
""",
]


def clear_caches() -> None:
    traceback_frames._frame_cache.clear()
    traceback_frames._regions.clear()
    fingerprints._app_frames_by_id.clear()


def cold(text: str) -> tuple[object, ...]:
    clear_caches()
    found = parse_tracebacks(text)
    return found, tuple(fingerprint(tb) for tb in found)


@pytest.mark.parametrize("first", range(len(TEXTS)))
def test_a_parse_after_any_other_equals_a_parse_with_cold_caches(first: int) -> None:
    expected = [cold(text) for text in TEXTS]
    clear_caches()
    parse_tracebacks(TEXTS[first])
    for text, want in zip(TEXTS, expected, strict=True):
        found = parse_tracebacks(text)
        assert (found, tuple(fingerprint(tb) for tb in found)) == want
    # And again, every cache warm.
    for text, want in zip(TEXTS, expected, strict=True):
        found = parse_tracebacks(text)
        assert (found, tuple(fingerprint(tb) for tb in found)) == want
