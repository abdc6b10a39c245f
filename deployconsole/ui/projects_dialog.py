"""Projects: adding one by any sign-in path, and the list of them.

:class:`AddProjectDialog` signs in (off the GUI thread: the browser sign-in
waits for the user) and hands back a project entry; :class:`ProjectsDialog`
lists the remembered projects (Ctrl+O in the window, see
projects_switcher.py) to open, add, sign in again, mark read-only or remove.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import webbrowser
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from deployconsole.core.projects import (
    ProjectEntry,
    ProjectError,
    ProjectRegistry,
    SignInKind,
    check_project_id,
)
from deployconsole.gcp import auth
from deployconsole.gcp.auth_keyring import keyring_problem
from deployconsole.ui.tasks import TaskRunner

log = logging.getLogger("deployconsole.ui")

PROJECTS_SHORTCUT = "Ctrl+O"
_PATH_LABELS = {
    SignInKind.SERVICE_ACCOUNT: "Key file (JSON; it may be deleted afterwards)",
    SignInKind.USER: "OAuth client file (client_secret.json of a Desktop app)",
    SignInKind.TOKEN_FILE: "Access token file",
}


class AddProjectDialog(QDialog):
    """Adds a project (or signs in to one again) by the chosen path.

    Signals:
        project_added(object): the signed-in ProjectEntry, ready to remember.
    """

    project_added = Signal(object)

    def __init__(
        self,
        tasks: TaskRunner,
        *,
        entry: ProjectEntry | None = None,
        open_browser: Callable[[str], Any] = webbrowser.open,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("addProjectDialog")
        self.setWindowTitle("Sign in again" if entry else "Add a project")
        self.tasks = tasks
        self.open_browser = open_browser
        self._cancelled = threading.Event()
        self._busy = False

        self.project_edit = QLineEdit(entry.id if entry else "", self)
        self.project_edit.setPlaceholderText("Project id, such as my-shop-prod")
        self.emulator_edit = QLineEdit(entry.emulator if entry else "", self)
        self.emulator_edit.setPlaceholderText(
            "Empty for Google; HOST:PORT for an emulator"
        )
        self.sign_in_combo = QComboBox(self)
        for kind in SignInKind:
            self.sign_in_combo.addItem(kind.label, kind)
        self.path_label = QLabel(self)
        self.path_edit = QLineEdit(entry.token_file if entry else "", self)
        self.browse_button = QPushButton("Choose…", self)
        self.browse_button.clicked.connect(self._browse)
        self.production_check = QCheckBox(
            "Production: type the project id before every change", self
        )
        self.read_only_check = QCheckBox("Read-only: make no changes here", self)
        self.keyring_label = QLabel(self)
        self.keyring_label.setWordWrap(True)
        self.status_label = QLabel(self)
        self.status_label.setObjectName("signInStatus")
        self.status_label.setWordWrap(True)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel,
            self,
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Sign in")
        self.buttons.accepted.connect(self.submit)
        self.buttons.rejected.connect(self._cancel)

        form = QFormLayout()
        form.addRow("Project", self.project_edit)
        form.addRow("Emulator", self.emulator_edit)
        form.addRow("Sign in with", self.sign_in_combo)
        path_row = QHBoxLayout()
        path_row.addWidget(self.path_edit)
        path_row.addWidget(self.browse_button)
        form.addRow(self.path_label, path_row)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        for widget in (self.production_check, self.read_only_check,
                       self.keyring_label, self.status_label, self.buttons):
            layout.addWidget(widget)

        self._offer_keyring_paths()
        if entry is not None:
            self.sign_in_combo.setCurrentIndex(list(SignInKind).index(entry.sign_in))
            self.production_check.setChecked(entry.production)
            self.read_only_check.setChecked(entry.read_only)
        self.sign_in_combo.currentIndexChanged.connect(self._on_kind_changed)
        self._on_kind_changed()

    def _offer_keyring_paths(self) -> None:
        """Without a keyring, say so and offer only the paths that need none."""
        problem = keyring_problem()
        self.keyring_label.setVisible(problem is not None)
        if problem is None:
            return
        self.keyring_label.setText(f"{problem}. {auth_keyring_hint()}")
        model = self.sign_in_combo.model()
        assert isinstance(model, QStandardItemModel)
        for row, kind in enumerate(SignInKind):
            if kind.needs_keyring:
                item = model.item(row)
                item.setEnabled(False)
                item.setToolTip(problem)
        if self.kind().needs_keyring:
            self.sign_in_combo.setCurrentIndex(list(SignInKind).index(SignInKind.ADC))

    def kind(self) -> SignInKind:
        return SignInKind(self.sign_in_combo.currentData())

    def _on_kind_changed(self, *_: object) -> None:
        label = _PATH_LABELS.get(self.kind())
        for widget in (self.path_label, self.path_edit, self.browse_button):
            widget.setVisible(label is not None)
        self.path_label.setText(label or "")
        self.status_label.setText("")

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, self.path_label.text())
        if path:
            self.path_edit.setText(path)

    def submit(self) -> None:
        """Validate, then sign in in the background."""
        if self._busy:
            return
        try:
            project = check_project_id(self.project_edit.text())
            emulator = self.emulator_edit.text().strip()
            ProjectEntry(project, SignInKind.NONE, emulator=emulator)
        except ProjectError as error:
            self._say(str(error))
            return
        kind = self.kind()
        if kind is SignInKind.NONE and not emulator:
            self._say("Google needs a sign-in; “No sign-in” is for an emulator.")
            return
        path = self.path_edit.text().strip()
        self._set_busy(True)
        if kind is SignInKind.USER:
            self._say("Waiting for you to sign in in the browser…")
        self._cancelled.clear()
        flow: dict[str, Any] = {}
        if kind is SignInKind.USER:
            flow = {"open_browser": self.open_browser, "cancelled": self._cancelled}
        production = self.production_check.isChecked()
        read_only = self.read_only_check.isChecked()
        self.tasks.submit(
            lambda: dataclasses.replace(
                auth.sign_in(kind, project, path, **flow),
                emulator=emulator, production=production, read_only=read_only,
            ),
            self._on_signed_in,
            self._on_failed,
        )

    def _on_signed_in(self, entry: ProjectEntry) -> None:
        self._set_busy(False)
        log.info("Signed in to %s with %s.", entry.id, entry.sign_in.value)
        self.project_added.emit(entry)
        self.accept()

    def _on_failed(self, error: Exception) -> None:
        self._set_busy(False)
        message = getattr(error, "message", None) or str(error)
        log.warning("Sign-in to %s failed: %s", self.project_edit.text(), message)
        self._say(message)

    def _cancel(self) -> None:
        self._cancelled.set()
        self.reject()

    @property
    def busy(self) -> bool:
        """Whether a sign-in is under way."""
        return self._busy

    def _set_busy(self, busy: bool) -> None:
        self._busy = busy
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setEnabled(not busy)

    def _say(self, text: str) -> None:
        self.status_label.setText(text)

    def status(self) -> str:
        return self.status_label.text()


def auth_keyring_hint() -> str:
    from deployconsole.gcp.auth_keyring import NO_KEYRING_HINT

    return NO_KEYRING_HINT


class ProjectsDialog(QDialog):
    """The remembered projects: open, add, sign in again, read-only, remove.

    Signals:
        open_requested(object): the user chose a ProjectEntry to open.
    """

    open_requested = Signal(object)

    def __init__(
        self,
        registry: ProjectRegistry,
        tasks: TaskRunner,
        *,
        open_browser: Callable[[str], Any] = webbrowser.open,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("projectsDialog")
        self.setWindowTitle("Projects")
        self.registry = registry
        self.tasks = tasks
        self.open_browser = open_browser
        self.add_dialog: AddProjectDialog | None = None
        self.list = QListWidget(self)
        self.list.itemActivated.connect(lambda _item: self.open_selected())
        self.problems = QLabel(self)
        self.problems.setWordWrap(True)
        buttons = QHBoxLayout()
        for text, slot in (
            ("Open", self.open_selected),
            ("Add…", lambda: self.add()),
            ("Sign in again…", lambda: self.add(self.selected())),
            ("Read-only on/off", self.toggle_read_only),
            ("Remove", self.remove_selected),
        ):
            button = QPushButton(text, self)
            button.clicked.connect(slot)
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.list)
        layout.addWidget(self.problems)
        layout.addLayout(buttons)
        self.reload()

    def reload(self) -> None:
        self.list.clear()
        for entry in self.registry.projects():
            item = QListWidgetItem(f"{entry.label} — {entry.sign_in.label}")
            item.setData(Qt.ItemDataRole.UserRole, entry)
            item.setToolTip(entry.account)
            self.list.addItem(item)
        self.problems.setText("\n".join(self.registry.problems))
        self.problems.setVisible(bool(self.registry.problems))
        if self.list.count():
            self.list.setCurrentRow(0)

    def selected(self) -> ProjectEntry | None:
        item = self.list.currentItem()
        return None if item is None else item.data(Qt.ItemDataRole.UserRole)

    def open_selected(self) -> None:
        entry = self.selected()
        if entry is not None:
            self.open_requested.emit(entry)
            self.accept()

    def add(self, entry: ProjectEntry | None = None) -> AddProjectDialog:
        dialog = AddProjectDialog(
            self.tasks, entry=entry, open_browser=self.open_browser, parent=self
        )
        dialog.project_added.connect(self._on_added)
        dialog.open()
        self.add_dialog = dialog
        return dialog

    def _on_added(self, entry: ProjectEntry) -> None:
        replaced = self.registry.add(entry)
        if replaced is not None and replaced.keyring_ref != entry.keyring_ref:
            auth.forget(replaced)  # the old secret is of no more use
        self.reload()
        self.open_requested.emit(entry)
        self.accept()

    def toggle_read_only(self) -> None:
        entry = self.selected()
        if entry is not None:
            self.registry.set_read_only(entry, not entry.read_only)
            self.reload()

    def remove_selected(self) -> None:
        entry = self.selected()
        if entry is None:
            return
        self.registry.remove(entry.id, entry.emulator)
        auth.forget(entry)
        self.reload()
