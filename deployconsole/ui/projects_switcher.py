"""Switching projects from the window.

:class:`ProjectSwitcher` gives every window the ConsoleApp opens its
project picker (the remembered projects), the Projects dialog (Ctrl+O) and
a read-only guard; picking a project replaces the window with one on that
project, so every panel belongs to the new project from the start.
:func:`signed_in` is the app's hook that gives an endpoint its sign-in.
"""

from __future__ import annotations

import dataclasses
import logging
import webbrowser
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QComboBox, QMessageBox

from deployconsole.core.projects import ProjectEntry, ProjectRegistry, SignInKind
from deployconsole.gcp import auth
from deployconsole.gcp.channel import Endpoint
from deployconsole.ui.projects_dialog import PROJECTS_SHORTCUT, ProjectsDialog
from deployconsole.ui.read_only import ReadOnlyGuard
from deployconsole.ui.tasks import TaskRunner

log = logging.getLogger("deployconsole.ui")

# Seconds between permission checks prompted by failed reads.
REPROBE_SECONDS = 30.0


def _find_switcher(console: QObject) -> ProjectSwitcher | None:
    for child in console.children():
        if isinstance(child, ProjectSwitcher):
            return child
    return None


def signed_in(
    endpoint: Endpoint, production: bool, console: Any
) -> tuple[Endpoint, bool]:
    """The endpoint with its project's sign-in, and whether it is production.

    Called by the app before it opens a window; chooses as
    :func:`gcp.auth.entry_for` does (``--access-token-file``, then the
    remembered sign-in, else ADC for Google). A sign-in that cannot be
    loaded still opens the window, on credentials that ask to sign in again
    at the first call, rather than acting as some other identity.
    """
    if endpoint.credentials is not None:
        return endpoint, production
    switcher = _find_switcher(console)
    if switcher is not None:
        registry, token_file = switcher.registry, switcher.access_token_file
    else:
        registry, token_file = ProjectRegistry(console.settings), None
    entry = auth.entry_for(
        endpoint.project, endpoint.emulator,
        access_token_file=token_file, registry=registry,
    )
    if entry is None:
        return endpoint, production
    production = production or entry.production
    if entry.sign_in is SignInKind.NONE:
        return endpoint, production
    identity = auth.identity_or_failure(entry)
    return dataclasses.replace(endpoint, credentials=identity), production


class ProjectSwitcher(QObject):
    """Gives every window of a ConsoleApp its project picker, the Projects
    dialog (Ctrl+O) and a read-only guard.

    Signals:
        guard_attached(object): a ReadOnlyGuard was attached to a new window.
    """

    guard_attached = Signal(object)

    def __init__(
        self,
        console: Any,
        access_token_file: str | None = None,
        *,
        registry: ProjectRegistry | None = None,
        open_browser: Callable[[str], Any] = webbrowser.open,
    ) -> None:
        super().__init__(console)
        self.console = console
        self.access_token_file = access_token_file
        self.registry = registry or ProjectRegistry(console.settings)
        self.open_browser = open_browser
        self.window: Any = None
        self.guard: ReadOnlyGuard | None = None
        self.dialog: ProjectsDialog | None = None
        self.sign_in_box: QMessageBox | None = None
        self._asked_in: Any = None  # the window already told to sign in again
        console.window_opened.connect(self._on_window_opened)

    def _on_window_opened(self, window: Any) -> None:
        self.window = window
        endpoint: Endpoint = window.session.endpoint
        current = self.registry.get(endpoint.project, endpoint.emulator or "")
        picker: QComboBox = window.project_picker
        picker.clear()
        entries = self.registry.projects()
        if current is None:
            label = endpoint.project + (" (emulator)" if endpoint.is_emulator else "")
            picker.addItem(label, None)
        for entry in entries:
            picker.addItem(entry.label, entry)
            if current is not None and entry.key == current.key:
                picker.setCurrentIndex(picker.count() - 1)
        picker.activated.connect(lambda index: self._on_picked(picker.itemData(index)))
        action = QAction("Projects…", window)
        action.setShortcut(QKeySequence(PROJECTS_SHORTCUT))
        action.setToolTip(f"Add, switch or sign in to projects ({PROJECTS_SHORTCUT})")
        action.triggered.connect(self.show_projects)
        window.addAction(action)

        guard = ReadOnlyGuard(
            window.actions_, window.session, window.tasks,
            chosen=bool(current and current.read_only),
        )
        guard.sign_in_required.connect(lambda message: self._ask_sign_in(message))
        # A sign-in can expire while the window is open; failed reads are
        # the first sign of it.
        window.refresh_failed.connect(
            lambda _message: guard.check(at_most_every=REPROBE_SECONDS)
        )
        self.guard = guard
        self.guard_attached.emit(guard)
        guard.start()

    def _on_picked(self, entry: ProjectEntry | None) -> None:
        if entry is not None:
            self.open(entry)

    def open(self, entry: ProjectEntry) -> None:
        """Replace the window with one on ``entry``."""
        from deployconsole.ui.app import Start, StartKind

        log.info("Switching to project %s.", entry.id)
        if entry.emulator:
            self.console.start(Start(StartKind.EMULATOR, entry.id, entry.emulator))
        else:
            self.console.start(
                Start(StartKind.PROJECT, entry.id, production=entry.production)
            )

    def show_projects(self) -> ProjectsDialog:
        dialog = ProjectsDialog(
            self.registry, self._tasks(), open_browser=self.open_browser,
            parent=self.window,
        )
        dialog.open_requested.connect(self.open)
        dialog.open()
        self.dialog = dialog
        return dialog

    def _tasks(self) -> TaskRunner:
        if self.window is not None:
            return self.window.tasks
        return TaskRunner(self)

    def _ask_sign_in(self, message: str) -> None:
        """Tell the user the sign-in stopped working; offer to sign in again.

        Once per window: the read label keeps saying it after that.
        """
        if self.window is None or self._asked_in is self.window:
            return
        self._asked_in = self.window
        box = QMessageBox(
            QMessageBox.Icon.Warning, "Sign in again", message,
            QMessageBox.StandardButton.Ok, self.window,
        )
        again = box.addButton("Sign in again…", QMessageBox.ButtonRole.ActionRole)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        endpoint: Endpoint = self.window.session.endpoint
        entry = self.registry.get(endpoint.project, endpoint.emulator or "")

        def on_clicked(button: Any) -> None:
            if button is again:
                self.show_projects().add(entry)

        box.buttonClicked.connect(on_clicked)
        box.open()
        self.sign_in_box = box
