"""The console's settings: every key declared once, with its type and default.

Settings live in one JSON file in the user config directory. They hold ids
and preferences only: never a secret (those go to the OS keyring, and the
settings keep just a reference to the keyring entry). Reading a key that is
not declared, or writing a value of the wrong type, is a programming error
and raises at once.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("deployconsole.settings")

SETTINGS_FILE = "settings.json"


@dataclass(frozen=True)
class Setting:
    """One declared setting.

    Attributes:
        key: dotted name, e.g. ``alerts.max_error_ratio``.
        type: the Python type of its value (``list`` and ``dict`` hold JSON).
        default: the value when unset.
        doc: one sentence for the settings page and diagnostics.
    """

    key: str
    type: type
    default: Any
    doc: str


_DECLARED: dict[str, Setting] = {}


def declare(key: str, type_: type, default: Any, doc: str) -> Setting:
    if key in _DECLARED:
        raise ValueError(f"setting {key} is declared twice")
    if not isinstance(default, type_):
        raise TypeError(f"default of {key} is not a {type_.__name__}")
    setting = Setting(key, type_, default, doc)
    _DECLARED[key] = setting
    return setting


def declared() -> dict[str, Setting]:
    return dict(_DECLARED)


# -- the declarations --------------------------------------------------------

LAST_PROJECT = declare("ui.last_project", str, "", "The project opened last.")
LAST_PROJECT_DEMO = declare(
    "ui.last_project_demo", bool, False, "Whether the last project was the demo."
)
WINDOW_GEOMETRY = declare(
    "ui.window_geometry", str, "", "The main window's geometry (base64)."
)
WINDOW_STATE = declare(
    "ui.window_state", str, "", "The main window's docks and toolbars (base64)."
)
REFRESH_SECONDS = declare(
    "ui.refresh_seconds", float, 5.0, "How often versions are read again."
)
PROJECTS = declare(
    "projects",
    list,
    [],
    "Known projects: each a dict with id, sign_in, keyring_ref, production, read_only.",
)
LOG_BUFFER_ENTRIES = declare(
    "logs.max_entries", int, 100_000, "Log entries kept in the live log table."
)
SOURCE_ROOT = declare(
    "errors.source_root", str, "", "A local checkout to open traceback frames in."
)
EDITOR_COMMAND = declare(
    "errors.editor_command",
    str,
    "",
    "Command that opens a frame's file at its line, with {file} and {line} "
    "(e.g. code -g {file}:{line}); empty: the desktop's default application.",
)
ALERT_MAX_ERROR_RATIO = declare(
    "alerts.max_error_ratio", float, 0.05, "5xx ratio over the window that alerts."
)
ALERT_WINDOW_SECONDS = declare(
    "alerts.window_seconds", float, 60.0, "Sliding window of the 5xx ratio rule."
)
ALERT_MIN_REQUESTS = declare(
    "alerts.min_requests", int, 20, "Requests needed in the window to alert."
)
ALERT_NEW_GROUP = declare(
    "alerts.new_error_group", bool, True, "Alert when a new error group appears."
)


def default_path() -> Path:
    import platformdirs

    return Path(platformdirs.user_config_dir("deployconsole", appauthor=False)) / (
        SETTINGS_FILE
    )


class Settings:
    """Typed access to the settings file; thread-safe, written atomically."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_path()
        self._lock = threading.Lock()
        self._values: dict[str, Any] = self._load()

    def _load(self) -> dict[str, Any]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as error:
            log.warning("Settings at %s could not be read: %s", self.path, error)
            return {}
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            log.warning(
                "Settings at %s are not valid JSON (%s); defaults are used.",
                self.path,
                error,
            )
            return {}
        if not isinstance(data, dict):
            return {}
        values = {}
        for key, value in data.items():
            setting = _DECLARED.get(key)
            if setting is None:
                log.info("Ignoring unknown setting %s in %s.", key, self.path)
                continue
            if _fits(setting, value):
                values[key] = value
            else:
                log.warning("Setting %s has a value of the wrong type; ignored.", key)
        return values

    def get(self, setting: Setting) -> Any:
        self._check(setting)
        with self._lock:
            return self._values.get(setting.key, setting.default)

    def set(self, setting: Setting, value: Any) -> None:
        self.set_many([(setting, value)])

    def set_many(self, values: Sequence[tuple[Setting, Any]]) -> None:
        """Set several settings in one write of the file: all or none."""
        for setting, value in values:
            self._check(setting)
            if not _fits(setting, value):
                raise TypeError(f"{setting.key} takes a {setting.type.__name__}")
        with self._lock:
            before = dict(self._values)
            self._values.update((setting.key, value) for setting, value in values)
            try:
                self._save()
            except OSError:
                self._values = before
                raise

    def reset(self, setting: Setting) -> None:
        self._check(setting)
        with self._lock:
            self._values.pop(setting.key, None)
            self._save()

    def is_set(self, setting: Setting) -> bool:
        with self._lock:
            return setting.key in self._values

    def _check(self, setting: Setting) -> None:
        if _DECLARED.get(setting.key) is not setting:
            raise KeyError(f"setting {setting.key} is not declared")

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(
            prefix=".settings-", dir=str(self.path.parent)
        )
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump(self._values, out, indent=2, sort_keys=True)
            os.replace(temporary, self.path)
        except OSError:
            os.unlink(temporary)
            raise


def _fits(setting: Setting, value: Any) -> bool:
    if setting.type is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if setting.type is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, setting.type)
