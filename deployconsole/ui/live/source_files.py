"""Opening a traceback frame's file in a local checkout.

A frame names the file where it ran on App Engine (``/workspace/main.py``,
``/srv/app/models.py``, ``/base/data/home/apps/s~p/v1.4242/main.py``). The
app-relative part is looked up under the user's checkout; for a layout not
recognised, the longest tail of the path that exists there wins.
"""

from __future__ import annotations

import logging
import re
import shlex
from pathlib import Path, PurePosixPath

from PySide6.QtCore import QProcess, QUrl
from PySide6.QtGui import QDesktopServices

log = logging.getLogger("deployconsole.ui.live")

# The same app roots the fingerprints strip: python27, second-generation
# runtimes, python37, the flexible environment.
APP_ROOT = re.compile(
    r"^(?:/base/data/home/apps/[^/]+/[^/]+/|/workspace/|/srv/|/home/vmagent/app/)"
)


class SourceError(ValueError):
    """A frame that cannot be opened; the message says why, for the user."""


def resolve(frame_file: str, source_root: str) -> Path:
    """The local file for a frame's file, under ``source_root``."""
    if not source_root:
        raise SourceError(
            "No local checkout is set: set errors.source_root to open frames."
        )
    root = Path(source_root).expanduser()
    if not root.is_dir():
        raise SourceError(f"The source root {root} is not a folder.")
    if not frame_file or frame_file.startswith("<"):
        raise SourceError(f"{frame_file or 'This frame'} is not a file.")
    path = frame_file.replace("\\", "/")
    match = APP_ROOT.match(path)
    if match is not None:
        candidate = root / path[match.end() :]
        if candidate.is_file():
            return candidate
    parts = PurePosixPath(path).parts
    for start in range(len(parts)):
        if parts[start] == "/":
            continue
        candidate = root.joinpath(*parts[start:])
        if candidate.is_file():
            return candidate
    raise SourceError(f"{frame_file} is not in the checkout at {root}.")


def editor_arguments(command: str, path: Path, line: int | None) -> list[str]:
    """The argv for the editor command with {file} and {line} filled in;
    without {file} the path goes last."""
    try:
        words = shlex.split(command)
    except ValueError as error:
        raise SourceError(f"The editor command cannot be read: {error}.") from None
    if not words:
        raise SourceError("The editor command is empty.")
    line_text = str(line or 1)
    has_file = any("{file}" in word for word in words)
    argv = [
        word.replace("{file}", str(path)).replace("{line}", line_text) for word in words
    ]
    if not has_file:
        argv.append(str(path))
    return argv


def open_file(path: Path, line: int | None, command: str) -> None:
    """Open ``path`` at ``line`` with ``command``, or the desktop's default
    application (which cannot be told the line) when there is none."""
    if command:
        argv = editor_arguments(command, path, line)
        started, _pid = QProcess.startDetached(argv[0], argv[1:])
        if not started:
            raise SourceError(f"The editor command {argv[0]!r} could not be started.")
        log.info("Opened %s at line %s with %s.", path, line, argv[0])
        return
    if not QDesktopServices.openUrl(QUrl.fromLocalFile(str(path))):
        raise SourceError(f"No application opened {path}.")
    log.info("Opened %s with the desktop's default application.", path)
