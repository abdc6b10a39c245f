from __future__ import annotations

import json
from pathlib import Path

import pytest

from deployconsole.core import settings as s


def test_defaults_round_trip_and_persist(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    store = s.Settings(path)
    assert store.get(s.ALERT_MAX_ERROR_RATIO) == 0.05
    assert not store.is_set(s.LAST_PROJECT)
    store.set(s.LAST_PROJECT, "myshop-prod")
    store.set(s.ALERT_MAX_ERROR_RATIO, 1)  # an int is a fine float
    again = s.Settings(path)
    assert again.get(s.LAST_PROJECT) == "myshop-prod"
    assert again.get(s.ALERT_MAX_ERROR_RATIO) == 1
    again.reset(s.LAST_PROJECT)
    assert s.Settings(path).get(s.LAST_PROJECT) == ""


def test_wrong_types_and_undeclared_keys_are_refused(tmp_path: Path) -> None:
    store = s.Settings(tmp_path / "settings.json")
    with pytest.raises(TypeError):
        store.set(s.LOG_BUFFER_ENTRIES, "many")
    with pytest.raises(TypeError):
        store.set(s.LOG_BUFFER_ENTRIES, True)
    with pytest.raises(KeyError):
        store.get(s.Setting("nope", str, "", "undeclared"))
    with pytest.raises(ValueError):
        s.declare("ui.last_project", str, "", "twice")


def test_a_damaged_file_falls_back_to_defaults(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text("{not json", encoding="utf-8")
    assert s.Settings(path).get(s.LOG_BUFFER_ENTRIES) == 100_000
    path.write_text(json.dumps({"logs.max_entries": "x", "unknown": 1}), "utf-8")
    store = s.Settings(path)
    assert store.get(s.LOG_BUFFER_ENTRIES) == 100_000


def test_several_settings_are_kept_all_or_none(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    store = s.Settings(path)
    with pytest.raises(TypeError):
        store.set_many([(s.ALERT_MIN_REQUESTS, 50), (s.ALERT_NEW_GROUP, "no")])
    assert not path.exists() and not store.is_set(s.ALERT_MIN_REQUESTS)
    store.set_many([(s.ALERT_MIN_REQUESTS, 50), (s.ALERT_NEW_GROUP, False)])
    again = s.Settings(path)
    assert again.get(s.ALERT_MIN_REQUESTS) == 50
    assert again.get(s.ALERT_NEW_GROUP) is False

    # A file that cannot be written changes nothing, in the file or here.
    blocked = s.Settings(tmp_path / "not-a-dir" / "settings.json")
    (tmp_path / "not-a-dir").write_text("a file", encoding="utf-8")
    with pytest.raises(OSError):
        blocked.set_many([(s.ALERT_MIN_REQUESTS, 7), (s.ALERT_NEW_GROUP, False)])
    assert not blocked.is_set(s.ALERT_MIN_REQUESTS)
    # Settings whose values are lists go through the same path.
    store.set(s.PROJECTS, [])
    assert s.Settings(path).get(s.PROJECTS) == []
