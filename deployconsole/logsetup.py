"""Where the console's logs go: a rotating file, and a ring buffer kept in
memory for diagnostics and crash reports.

Every line is scrubbed of credentials before it is written anywhere: a log
file ends up attached to bug reports, and an access token in it would be a
leak. No Qt here: the GUI installs this, but it works for any face.
"""

from __future__ import annotations

import logging
import logging.handlers
import re
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

log = logging.getLogger("deployconsole.logs")

LOG_FILE = "deployconsole.log"
# About 5 MB of history across the rotated files.
MAX_BYTES = 1_000_000
BACKUP_COUNT = 4
RING_LINES = 500
FORMAT = "%(asctime)s %(name)s %(levelname)s: %(message)s"

REDACTED = "[redacted]"

# Credentials as Google and HTTP write them. Each pattern's last group (or
# the whole match when it has none) is what gets replaced.
_SECRET_PATTERNS = [
    re.compile(
        r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)",
        re.DOTALL,
    ),
    re.compile(r"\bya29\.[0-9A-Za-z_\-]+(?:\.[0-9A-Za-z_\-]+)*"),  # OAuth token
    re.compile(r"\b1//[0-9A-Za-z_\-]{20,}"),  # OAuth refresh token
    re.compile(r"\bAIza[0-9A-Za-z_\-]{30,}"),  # API key
    re.compile(r"\bGOCSPX-[0-9A-Za-z_\-]+"),  # OAuth client secret
    re.compile(r"\beyJ[0-9A-Za-z_\-]+\.[0-9A-Za-z_\-]+\.[0-9A-Za-z_\-]*"),  # JWT
    re.compile(r"(?i)(\bauthorization\b[\"']?\s*[:=]\s*[\"']?)([^\"'\r\n]+)"),
    re.compile(r"(?i)(\b(?:bearer|basic)\s+)([0-9A-Za-z_\-.~+/=]{8,})"),
    re.compile(
        r"(?i)(\b(?:access_token|refresh_token|id_token|client_secret|private_key"
        r"|private_key_id|api_key|apikey|password|passwd|secret|token)\b"
        r"[\"']?\s*[:=]\s*[\"']?)([^\s\"',;&}]+)"
    ),
]


def scrub(text: str) -> str:
    """``text`` with every credential it contains replaced by ``[redacted]``."""
    for pattern in _SECRET_PATTERNS:
        if pattern.groups:
            text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
        else:
            text = pattern.sub(REDACTED, text)
    return text


class ScrubbingFormatter(logging.Formatter):
    """Formats a record (with its traceback) and scrubs the result."""

    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record))


class RingBufferHandler(logging.Handler):
    """Keeps the last ``capacity`` formatted lines in memory (thread-safe)."""

    def __init__(self, capacity: int = RING_LINES) -> None:
        super().__init__()
        self._lines: deque[str] = deque(maxlen=capacity)
        self._lines_lock = threading.Lock()
        self.setFormatter(ScrubbingFormatter(FORMAT))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception:
            self.handleError(record)
            return
        with self._lines_lock:
            self._lines.extend(text.splitlines() or [""])

    def lines(self, last: int | None = None) -> list[str]:
        with self._lines_lock:
            lines = list(self._lines)
        return lines if last is None else lines[-last:]


@dataclass(frozen=True)
class LogSetup:
    """What :func:`install` set up.

    Attributes:
        file: the current log file, or None when it could not be opened.
        file_error: why there is no log file ("" when there is one).
        ring: the in-memory buffer of recent lines.
    """

    file: Path | None
    file_error: str
    ring: RingBufferHandler


_installed: list[logging.Handler] = []
# Undoes install()'s changes to the root logger and its other handlers.
_restore: list[Callable[[], None]] = []
_current: LogSetup | None = None


def default_log_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_log_dir("deployconsole", appauthor=False))


def install(*, verbose: bool = False, log_dir: Path | None = None) -> LogSetup:
    """Send the process's logs to a rotating file and the ring buffer.

    Handlers already on the root logger (stderr) keep the level they showed
    before; the root logger is lowered so the file gets info (debug with
    ``verbose``). Calling it again replaces what the last call installed.
    """
    global _current
    uninstall()
    root = logging.getLogger()
    _restore.append(partial(root.setLevel, root.level))
    for handler in root.handlers:
        if handler.level == logging.NOTSET:
            handler.setLevel(root.level)
            _restore.append(partial(handler.setLevel, logging.NOTSET))
    level = logging.DEBUG if verbose else logging.INFO
    root.setLevel(min(root.level or level, level))

    ring = RingBufferHandler()
    ring.setLevel(level)
    handlers: list[logging.Handler] = [ring]
    directory = log_dir or default_log_dir()
    file_path = directory / LOG_FILE
    path: Path | None = file_path
    error = ""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        file_handler = logging.handlers.RotatingFileHandler(
            file_path, maxBytes=MAX_BYTES, backupCount=BACKUP_COUNT, encoding="utf-8"
        )
    except OSError as exc:
        path = None
        error = f"cannot write logs to {directory}: {exc.strerror or exc}"
    else:
        file_handler.setFormatter(ScrubbingFormatter(FORMAT))
        file_handler.setLevel(level)
        handlers.append(file_handler)

    for handler in handlers:
        root.addHandler(handler)
    _installed.extend(handlers)
    _current = LogSetup(path, error, ring)
    if error:
        log.warning("Logging to memory only: %s.", error)
    else:
        log.info("Logging to %s.", path)
    return _current


def uninstall() -> None:
    """Undo what :func:`install` did (tests, and a second install)."""
    global _current
    root = logging.getLogger()
    while _installed:
        handler = _installed.pop()
        root.removeHandler(handler)
        handler.close()
    while _restore:
        _restore.pop()()
    _current = None


def current() -> LogSetup | None:
    """The active setup, if :func:`install` ran."""
    return _current
