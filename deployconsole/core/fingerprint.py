"""Fingerprints: which tracebacks are the same error.

A fingerprint covers the exception types of the chain and, for each
exception, its in-app frames as ``path:function``. Line numbers and message
values are left out, so an edit that moves lines or an error with another
order id stays in its group. Library frames (site-packages, the runtime's
standard library, the App Engine runtime, frozen modules) are left out, so a
library upgrade does not split a group. App paths are taken relative to the
app root, which for python27 contains the version id and the deployment id:
the same error in the next version stays in its group. Repeated frames (deep
recursion) collapse to one. An exception group's sub-exceptions count as a
set, since tasks fail in any order.

The fingerprint is the first 12 hex digits of the SHA-1 of the JSON of
:func:`fingerprint_inputs` (keys sorted).
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from deployconsole.core.traceback_model import ExceptionInfo, Frame, Traceback

# App roots: python27 (/base/data/home/apps/<app>/<version>.<deployment>/),
# second-generation runtimes (/workspace/), the python37 runtime (/srv/) and
# the flexible environment (/home/vmagent/app/).
_APP_ROOT = re.compile(
    r"^(?:/base/data/home/apps/[^/]+/[^/]+/|/workspace/|/srv/|/home/vmagent/app/)"
)
_LIBRARY = re.compile(
    r"/(?:site|dist)-packages/"
    r"|/lib(?:64)?/python\d[\d.]*/"
    r"|/Lib/"
    r"|/base/alloc/tmpfs/dynamic_runtimes/"
    r"|/python27_(?:lib|runtime|dist)/"
    r"|/google/appengine/(?:api|ext|runtime|datastore|tools|_internal)/"
)
# Vendored packages inside the app directory (``pip install -t lib``).
_VENDORED = ("lib/", "libs/")
_CACHE_LIMIT = 50_000

_frame_keys: dict[tuple[str, str], str | None] = {}


def in_app_key(file: str, function: str) -> str | None:
    """``path:function`` for an app frame, None for a library frame."""
    cache_key = (file, function)
    cached = _frame_keys.get(cache_key, False)
    if cached is not False:
        return cached  # type: ignore[return-value]
    key = _compute_key(file, function)
    if len(_frame_keys) >= _CACHE_LIMIT:
        _frame_keys.clear()
    _frame_keys[cache_key] = key
    return key


def _compute_key(file: str, function: str) -> str | None:
    if not file or file.startswith("<"):
        return None
    path = file.replace("\\", "/")
    if _LIBRARY.search(path):
        return None
    root = _APP_ROOT.match(path)
    if root is not None:
        relative = path[root.end() :]
        if relative.startswith(_VENDORED):
            return None
    else:
        # An unknown layout (a developer machine, a container): the file
        # name alone, so that checkouts in different places agree.
        # FIXME(fingerprint): two app files of the same name in different
        # directories of such a layout share their key.
        relative = path.rsplit("/", 1)[-1]
    return f"{relative}:{function}"


def fingerprint_inputs(traceback: Traceback) -> list[dict[str, Any]]:
    """What the fingerprint covers: per exception, its type and app frames.

    Exceptions come in printed order; an exception group is followed by its
    sub-exceptions' inputs, the sub-exception chains sorted and without
    duplicates.
    """
    out: list[dict[str, Any]] = []
    for exc in traceback.exceptions:
        out.extend(_exception_inputs(exc))
    return out


def _exception_inputs(exc: ExceptionInfo) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [
        {"type": exc.type, "in_app_frames": list(_app_frames(exc))}
    ]
    if exc.sub_exceptions:
        chains: dict[str, list[dict[str, Any]]] = {}
        for chain in exc.sub_exceptions:
            inputs = [item for sub in chain for item in _exception_inputs(sub)]
            chains.setdefault(json.dumps(inputs, sort_keys=True), inputs)
        for key in sorted(chains):
            out.extend(chains[key])
    return out


# id of a frames tuple -> (the tuple, its app frames). The parser hands out
# the same tuple every time an error's frames come back, so this is a hit
# for every repeat; holding the tuple keeps its id from being reused.
_app_frames_by_id: dict[int, tuple[tuple[Frame, ...], tuple[str, ...]]] = {}


def _app_frames(exc: ExceptionInfo) -> tuple[str, ...]:
    frames = exc.frames
    known = _app_frames_by_id.get(id(frames))
    if known is not None and known[0] is frames:
        return known[1]
    keys: list[str] = []
    for frame in frames:
        key = in_app_key(frame.file, frame.function)
        if key is not None and (not keys or keys[-1] != key):
            keys.append(key)
    found = tuple(_collapse_cycles(keys))
    if len(_app_frames_by_id) >= _CACHE_LIMIT:
        _app_frames_by_id.clear()
    _app_frames_by_id[id(frames)] = (frames, found)
    return found


def _collapse_cycles(frames: list[str]) -> list[str]:
    # Mutual recursion (a -> b -> a -> b ...) is printed in full, to a depth
    # that varies; keep one turn of any repeating run of up to four frames.
    if len(frames) < 4:
        return frames
    out: list[str] = []
    for key in frames:
        out.append(key)
        for width in (2, 3, 4):
            if len(out) >= 2 * width and out[-width:] == out[-2 * width : -width]:
                del out[-width:]
                break
    return out


_fingerprints: dict[tuple[Any, ...], str] = {}


def _shape(exc: ExceptionInfo) -> tuple[Any, ...]:
    # What the fingerprint depends on, as a cheap hashable key.
    subs = exc.sub_exceptions
    if not subs:
        return (exc.type, _app_frames(exc))
    return (
        exc.type,
        _app_frames(exc),
        tuple(tuple(_shape(sub) for sub in chain) for chain in subs),
    )


def fingerprint(traceback: Traceback) -> str:
    """The group key for a traceback (12 hex digits)."""
    exceptions = traceback.exceptions
    if len(exceptions) == 1:
        shape: tuple[Any, ...] = (_shape(exceptions[0]),)
    else:
        shape = tuple([_shape(exc) for exc in exceptions])
    known = _fingerprints.get(shape)
    if known is not None:
        return known
    inputs = fingerprint_inputs(traceback)
    digest = hashlib.sha1(json.dumps(inputs, sort_keys=True).encode("utf-8"))
    key = digest.hexdigest()[:12]
    if len(_fingerprints) >= _CACHE_LIMIT:
        _fingerprints.clear()
    _fingerprints[shape] = key
    return key
