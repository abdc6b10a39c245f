"""Shared fixtures: Qt offscreen, an emulator per test that asks for one."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# The console must never pick up a developer's real Google credentials or
# settings in tests.
os.environ.pop("GOOGLE_APPLICATION_CREDENTIALS", None)


@pytest.fixture()
def isolated_home(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Point every user directory (config, data, cache, logs) at a temp dir."""
    home = str(tmp_path)
    for var in (
        "HOME",
        "XDG_CONFIG_HOME",
        "XDG_DATA_HOME",
        "XDG_CACHE_HOME",
        "XDG_STATE_HOME",
    ):
        monkeypatch.setenv(var, os.path.join(home, var.lower()))
    yield home
