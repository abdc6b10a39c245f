"""Starting the GUI: what to open, and what every start sets up.

A start opens, in order of precedence: the demo (``--demo``), an emulator
(``--emulator``), a project (``--project``), the project opened last, or,
when none is known, the welcome screen. Every start logs to a rotating file,
routes Qt's messages into Python logging, shows unhandled exceptions in a
dialog instead of dying, and restores the window's size and layout.
"""

from __future__ import annotations

import argparse
import enum
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QByteArray,
    QEvent,
    QMessageLogContext,
    QObject,
    QtMsgType,
    Signal,
    Slot,
    qInstallMessageHandler,
)
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QMainWindow

from deployconsole import logsetup
from deployconsole.core import settings as s
from deployconsole.core.projects import ProjectEntry, ProjectRegistry, SignInKind
from deployconsole.gcp.channel import Endpoint
from deployconsole.ui.crash_dialog import CrashHandler
from deployconsole.ui.diagnostics import Diagnostics, install_help_menu
from deployconsole.ui.icons import app_icon
from deployconsole.ui.welcome import WelcomeScreen

log = logging.getLogger("deployconsole.ui")
startup_log = logging.getLogger("deployconsole.startup")
qt_log = logging.getLogger("deployconsole.qt")

DEMO_PROJECT = "deployconsole-demo"


class StartKind(enum.Enum):
    DEMO = "demo"
    EMULATOR = "emulator"
    PROJECT = "project"
    WELCOME = "welcome"


@dataclass(frozen=True)
class Start:
    """What a start of the GUI opens.

    Attributes:
        kind: demo, an emulator, a Google project, or the welcome screen.
        project: the project id ("" for the welcome screen).
        emulator: HOST:PORT of an emulator (EMULATOR only).
        production: whether changes ask for the project id to be typed.
    """

    kind: StartKind
    project: str = ""
    emulator: str | None = None
    production: bool = False


def choose_start(args: argparse.Namespace, settings: s.Settings) -> Start:
    """Where this start goes, from the command line, then the settings."""
    project = getattr(args, "project", None)
    if getattr(args, "demo", False):
        return Start(StartKind.DEMO, DEMO_PROJECT)
    emulator = getattr(args, "emulator", None)
    if emulator:
        return Start(StartKind.EMULATOR, project or DEMO_PROJECT, emulator)
    if not project:
        if settings.get(s.LAST_PROJECT_DEMO):
            return Start(StartKind.DEMO, DEMO_PROJECT)
        project = settings.get(s.LAST_PROJECT)
    if project:
        entry = ProjectRegistry(settings).get(project)
        production = entry is not None and entry.production
        return Start(StartKind.PROJECT, project, production=production)
    return Start(StartKind.WELCOME)


class LayoutKeeper(QObject):
    """Restores a main window's geometry and toolbar/dock state from the
    settings, and saves them when it closes."""

    def __init__(self, window: QMainWindow, settings: s.Settings) -> None:
        super().__init__(window)
        self._window = window
        self._settings = settings
        window.installEventFilter(self)

    def restore(self) -> bool:
        """Apply the saved layout; False when there was none or it was unusable."""
        geometry = self._settings.get(s.WINDOW_GEOMETRY)
        state = self._settings.get(s.WINDOW_STATE)
        restored = False
        if geometry:
            blob = QByteArray.fromBase64(geometry.encode("ascii"))
            restored = self._window.restoreGeometry(blob)
            if not restored:
                log.warning("The saved window geometry could not be applied.")
        if state:
            blob = QByteArray.fromBase64(state.encode("ascii"))
            if not self._window.restoreState(blob):
                log.warning("The saved toolbar and dock layout could not be applied.")
        return restored

    def save(self) -> None:
        geometry = bytes(self._window.saveGeometry().toBase64().data()).decode()
        state = bytes(self._window.saveState().toBase64().data()).decode()
        self._settings.set(s.WINDOW_GEOMETRY, geometry)
        self._settings.set(s.WINDOW_STATE, state)
        log.debug("Window layout saved.")

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self._window and event.type() == QEvent.Type.Close:
            try:
                self.save()
            except OSError as error:
                log.warning("The window layout could not be saved: %s", error)
        return False


class ConsoleApp(QObject):
    """The GUI's lifetime: the welcome screen or the main window, the demo
    emulator, and what is remembered for the next start.

    Signals:
        window_opened(object): a MainWindow was created and shown.
    """

    window_opened = Signal(object)

    def __init__(
        self,
        settings: s.Settings,
        log_setup: logsetup.LogSetup | None = None,
        *,
        icon: QIcon | None = None,
        journal_path: Path | None = None,
        refresh_interval_ms: int | None = None,
        demo_options: Any = None,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.log_setup = log_setup
        self.icon = icon if icon is not None else app_icon()
        self.journal_path = journal_path
        self.refresh_interval_ms = refresh_interval_ms
        # EmulatorOptions for the demo (None: the bad-push demo as shipped).
        self.demo_options = demo_options
        self.window: Any = None  # MainWindow, imported lazily
        self.welcome: WelcomeScreen | None = None
        self.emulator: Any = None
        self.layout_keeper: LayoutKeeper | None = None
        self._window_shut_down = False

    def start(self, start: Start) -> None:
        where = f" {start.project}" if start.project else ""
        startup_log.info("Starting on %s%s.", start.kind.value, where)
        if start.kind is StartKind.DEMO:
            self.open_demo()
        elif start.kind is StartKind.EMULATOR:
            assert start.emulator is not None
            self._open(Endpoint(start.project, start.emulator), production=False)
        elif start.kind is StartKind.PROJECT:
            self.open_project(start.project, start.production)
        else:
            self.show_welcome()

    def show_welcome(self) -> None:
        self.welcome = WelcomeScreen(self.icon)
        self.welcome.demo_chosen.connect(self.open_demo)
        self.welcome.project_added.connect(self.open_project)
        self.welcome.show()
        startup_log.info("Welcome screen shown.")

    @Slot()
    def open_demo(self) -> None:
        from deployconsole.emulator.server import Emulator

        if self.emulator is None:
            try:
                self.emulator = Emulator(self.demo_options).start()
            except Exception as error:  # a port in use, a bad scenario...
                why = f"the demo emulator did not start: {error}"
                self._open_failed(DEMO_PROJECT, why)
                return
            log.info(
                "Demo emulator for project %s on %s.",
                self.emulator.state.project_id,
                self.emulator.address,
            )
        project = self.emulator.state.project_id
        if self._open(Endpoint(project, self.emulator.address), production=False):
            self._remember(project, demo=True)

    @Slot(str, bool)
    def open_project(self, project: str, production: bool = False) -> None:
        if self._open(Endpoint(project), production=production):
            self._remember(project, demo=False, production=production)

    def _remember(self, project: str, *, demo: bool, production: bool = False) -> None:
        """Make ``project`` the one the next start opens."""
        try:
            registry = ProjectRegistry(self.settings)
            if not demo and registry.get(project) is None:
                entry = ProjectEntry(project, SignInKind.ADC, production=production)
                registry.add(entry)
            self.settings.set(s.LAST_PROJECT, project)
            self.settings.set(s.LAST_PROJECT_DEMO, demo)
        except OSError as error:
            log.warning(
                "Project %s will not be reopened next time: the settings at %s "
                "could not be written (%s).",
                project,
                self.settings.path,
                error,
            )

    def _open(self, endpoint: Endpoint, *, production: bool) -> bool:
        """Open the main window on ``endpoint``; False (and the welcome
        screen says why) when its clients could not be made."""
        from deployconsole.ui.mainwindow import REFRESH_INTERVAL_MS, MainWindow
        from deployconsole.ui.projects_switcher import signed_in
        from deployconsole.ui.session import ConsoleSession

        endpoint, production = signed_in(endpoint, production, self)
        try:
            session = ConsoleSession(
                endpoint, journal_path=self.journal_path, production=production
            )
        except Exception as error:  # google.auth, grpc and sqlite3 have their own
            self._open_failed(endpoint.project, str(error))
            return False
        previous = self.window
        if previous is not None and self.layout_keeper is not None:
            self.layout_keeper.save()  # the new window takes the current layout
        # Parts of the window (the tray icon) take the application's icon
        # while the window is being built.
        if QApplication.windowIcon().isNull():
            QApplication.setWindowIcon(self.icon)
        window = MainWindow(
            endpoint,
            session=session,
            refresh_interval_ms=self.refresh_interval_ms or REFRESH_INTERVAL_MS,
        )
        window.setWindowIcon(self.icon)
        self.layout_keeper = LayoutKeeper(window, self.settings)
        self.layout_keeper.restore()
        diagnostics = Diagnostics(
            lambda: self._context(endpoint), self.log_setup, window
        )
        install_help_menu(window, diagnostics)
        self.window = window
        window.show()
        if previous is not None:
            # Only now: closing the last visible window would quit the app.
            previous.close()
            if not self._window_shut_down:
                previous.shutdown()
            previous.deleteLater()
        self._window_shut_down = False
        if self.welcome is not None:
            self.welcome.close()
            self.welcome.deleteLater()
            self.welcome = None
        startup_log.info("Window shown for project %s.", endpoint.project)
        self.window_opened.emit(window)
        return True

    def _open_failed(self, project: str, why: str) -> None:
        message = f"Could not open {project}: {why}"
        if "credentials" in why.lower():
            message += (
                " Sign in with `gcloud auth application-default login`, then add "
                "the project again."
            )
        log.error("%s", message)
        if self.welcome is None:
            self.show_welcome()
        assert self.welcome is not None
        self.welcome.show_notice(message)

    def _context(self, endpoint: Endpoint) -> dict[str, str]:
        if self.emulator is not None and endpoint.emulator == self.emulator.address:
            backend = "the embedded demo emulator"
        elif endpoint.is_emulator:
            backend = f"an emulator at {endpoint.emulator}"
        else:
            backend = "Google"
        return {
            "Project": endpoint.project,
            "Backend": backend,
            "Settings file": str(self.settings.path),
        }

    def shutdown(self) -> None:
        """Stop the window's workers and the demo emulator (idempotent)."""
        if self.window is not None and not self._window_shut_down:
            self._window_shut_down = True
            self.window.shutdown()
        if self.emulator is not None:
            self.emulator.stop()
            self.emulator = None


_QT_LEVELS = {
    QtMsgType.QtDebugMsg: logging.DEBUG,
    QtMsgType.QtInfoMsg: logging.INFO,
    QtMsgType.QtWarningMsg: logging.WARNING,
    QtMsgType.QtCriticalMsg: logging.ERROR,
    QtMsgType.QtFatalMsg: logging.CRITICAL,
}


# Platform plugins' chatter that says nothing about the console.
_QT_CHATTER = ("This plugin does not support propagateSizeHints",)


def _qt_message(kind: QtMsgType, context: QMessageLogContext, message: str) -> None:
    # Qt's own warnings (bad layouts, missing plugins) belong in the log file
    # next to ours, not only on a terminal nobody watches.
    level = _QT_LEVELS.get(kind, logging.WARNING)
    if message.startswith(_QT_CHATTER):
        level = logging.DEBUG
    qt_log.log(level, "%s", message)


def install_qt_message_handler() -> Any:
    """Route Qt's messages into Python logging; returns the previous handler."""
    return qInstallMessageHandler(_qt_message)


def application() -> QApplication:
    """The QApplication, created and named if it does not exist yet."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("deployconsole")
    app.setOrganizationName("deployconsole")
    app.setApplicationDisplayName("Deploy Console")
    # Wayland matches the window to the .desktop file (and so its icon) by this.
    app.setDesktopFileName("io.github.deployconsole.DeployConsole")
    return app


def tune_interpreter_for_gui() -> None:
    """Keep the event loop responsive while the tail thread ingests.

    The tail thread holds the GIL for most of a burst; a shorter switch
    interval hands it to the GUI thread sooner. Start-up objects are moved
    out of the collector's reach so that full collections, which walk every
    retained log record, have less to walk.
    """
    import gc

    sys.setswitchinterval(0.001)
    gc.collect()
    gc.freeze()


def run_gui(args: argparse.Namespace) -> int:
    log_setup = logsetup.install(verbose=bool(getattr(args, "verbose", False)))
    app = application()
    icon = app_icon()
    app.setWindowIcon(icon)
    previous_qt_handler = install_qt_message_handler()
    console = ConsoleApp(s.Settings(), log_setup, icon=icon)
    from deployconsole.ui.projects_switcher import ProjectSwitcher

    ProjectSwitcher(console, getattr(args, "access_token_file", None))
    crash = CrashHandler(lambda: console.window, str(log_setup.file or ""))
    crash.install()
    try:
        console.start(choose_start(args, console.settings))
        tune_interpreter_for_gui()
        return app.exec()
    finally:
        console.shutdown()
        crash.uninstall()
        qInstallMessageHandler(previous_qt_handler)
