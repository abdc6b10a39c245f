"""Help → "Copy diagnostics": what a bug report needs, and no secrets.

The text names the console's and its libraries' versions, the platform and
Qt's view of it, the open project and the last log lines. Environment
variables are not dumped (they hold tokens on CI machines); the log lines
were scrubbed when they were written and are scrubbed again here, and the
user's home folder is shortened to ``~``.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import platform
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

import PySide6
from PySide6.QtCore import QObject, Qt, Signal, Slot, qVersion
from PySide6.QtGui import QAction, QGuiApplication
from PySide6.QtWidgets import QMainWindow, QMenu, QMessageBox

from deployconsole import __version__
from deployconsole.logsetup import LogSetup, scrub

log = logging.getLogger("deployconsole.ui")

LOG_LINES = 200

# Distributions whose versions matter when something breaks.
DISTRIBUTIONS = (
    "google-api-core",
    "google-auth",
    "google-cloud-appengine-admin",
    "google-cloud-logging",
    "grpcio",
    "protobuf",
    "proto-plus",
    "PySide6-Essentials",
    "platformdirs",
    "keyring",
)

# Environment variables that explain display and locale problems; their
# values are shown. Credentials variables are only said to be set or not.
SHOWN_ENVIRONMENT = (
    "QT_QPA_PLATFORM",
    "QT_SCALE_FACTOR",
    "XDG_SESSION_TYPE",
    "XDG_CURRENT_DESKTOP",
    "LANG",
)
PRESENCE_ONLY_ENVIRONMENT = ("GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CLOUD_PROJECT")


def distribution_versions() -> dict[str, str]:
    versions = {}
    for name in DISTRIBUTIONS:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed (no metadata)"
    return versions


def diagnostics_text(
    context: Mapping[str, str],
    log_setup: LogSetup | None,
    *,
    log_lines: int = LOG_LINES,
) -> str:
    """The diagnostics report; ``context`` adds lines such as the project."""
    lines = [f"Deploy Console {__version__}"]
    python = f"{sys.version.split()[0]} ({platform.python_implementation()})"
    lines.append(f"Python: {python}")
    lines.append(f"Platform: {platform.platform()} ({platform.machine()})")
    lines.append(f"Bundle: {'yes' if getattr(sys, 'frozen', False) else 'no'}")
    lines.append(f"Qt: {qVersion()}, PySide6 {PySide6.__version__}")
    app = QGuiApplication.instance()
    if isinstance(app, QGuiApplication):
        lines.append(f"Qt platform: {QGuiApplication.platformName()}")
        screen = QGuiApplication.primaryScreen()
        if screen is not None:
            size = screen.size()
            lines.append(
                f"Screen: {size.width()}x{size.height()} at "
                f"{screen.devicePixelRatio():g}x"
            )
    for key, value in context.items():
        lines.append(f"{key}: {value}")

    lines.append("")
    lines.append("Libraries:")
    for name, version in distribution_versions().items():
        lines.append(f"  {name} {version}")

    lines.append("")
    lines.append("Environment:")
    for name in SHOWN_ENVIRONMENT:
        lines.append(f"  {name}={os.environ.get(name, '')}")
    for name in PRESENCE_ONLY_ENVIRONMENT:
        lines.append(f"  {name} {'is set' if os.environ.get(name) else 'is not set'}")

    lines.append("")
    if log_setup is None:
        lines.append("Log: not set up.")
        recent: list[str] = []
    else:
        where = str(log_setup.file) if log_setup.file else log_setup.file_error
        lines.append(f"Log file: {where}")
        recent = log_setup.ring.lines(log_lines)
    lines.append(f"Last {len(recent)} log lines:")
    lines.extend(f"  {line}" for line in recent)
    return _shorten_home(scrub("\n".join(lines))) + "\n"


def _shorten_home(text: str) -> str:
    home = str(Path.home())
    if len(home) > 1:
        text = text.replace(home, "~")
    return text


class Diagnostics(QObject):
    """Builds and copies the diagnostics of one window.

    Signals:
        copied(str): the text put on the clipboard.
    """

    copied = Signal(str)

    def __init__(
        self,
        context: Callable[[], Mapping[str, str]],
        log_setup: LogSetup | None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._context = context
        self._log_setup = log_setup

    def text(self) -> str:
        return diagnostics_text(self._context(), self._log_setup)

    @Slot()
    def copy(self) -> None:
        text = self.text()
        QGuiApplication.clipboard().setText(text)
        log.info("Diagnostics copied to the clipboard (%d lines).", text.count("\n"))
        self.copied.emit(text)


def install_help_menu(window: QMainWindow, diagnostics: Diagnostics) -> QMenu:
    """Add Help → Copy diagnostics and About to ``window``'s menu bar.

    An existing menu named ``helpMenu`` is reused so that the window may
    build its own Help menu first.
    """
    menu = window.menuBar().findChild(QMenu, "helpMenu")
    if menu is None:
        menu = window.menuBar().addMenu("&Help")
        menu.setObjectName("helpMenu")
    copy_action = QAction("Copy diagnostics", window)
    copy_action.setObjectName("copyDiagnosticsAction")
    copy_action.setStatusTip(
        "Copy versions, platform and recent log lines for a bug report (no credentials)"
    )
    copy_action.triggered.connect(diagnostics.copy)
    diagnostics.copied.connect(
        lambda _text: window.statusBar().showMessage(
            "Diagnostics copied to the clipboard.", 5_000
        )
    )
    menu.addAction(copy_action)
    about = QAction("About Deploy Console", window)
    about.setObjectName("aboutAction")
    about.triggered.connect(lambda: _show_about(window))
    menu.addAction(about)
    return menu


def _show_about(window: QMainWindow) -> None:
    box = QMessageBox(window)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.setWindowTitle("About Deploy Console")
    box.setIconPixmap(window.windowIcon().pixmap(64, 64))
    box.setText(
        f"<b>Deploy Console {__version__}</b><br>A deploy console for Google App "
        "Engine: traffic, rollbacks, live errors."
    )
    box.open()
