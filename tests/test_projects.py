"""Remembered projects: the registry over the settings, adding a project by
each sign-in path from the dialog, and switching from the window."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keyring
import pytest
from keyring.backends import fail
from PySide6.QtCore import Qt
from PySide6.QtGui import QStandardItemModel
from test_auth_fakes import (
    PROJECT,
    FakeGoogle,
    LogCapture,
    MemoryKeyring,
    assert_no_secret_in_files,
    assert_no_secret_logged,
    auth_emulator,
    console_dirs,
    fake_google,
    key_fragments,
    log_capture,
    memory_keyring,
    start_emulator,
    write_adc,
)

from deployconsole.core import settings as s
from deployconsole.core.projects import (
    ProjectEntry,
    ProjectError,
    ProjectRegistry,
    SignInKind,
)
from deployconsole.emulator.server import Emulator
from deployconsole.ui.app import ConsoleApp, Start, StartKind
from deployconsole.ui.projects_dialog import AddProjectDialog, ProjectsDialog
from deployconsole.ui.projects_switcher import ProjectSwitcher
from deployconsole.ui.read_only import ReadOnlyGuard
from deployconsole.ui.tasks import TaskRunner

__all__ = ["auth_emulator", "fake_google", "log_capture", "memory_keyring"]

TIMEOUT = 10_000


@pytest.fixture()
def settings(isolated_home: str) -> s.Settings:
    return s.Settings()


# -- the registry ------------------------------------------------------------------


def test_projects_round_trip_with_ids_and_references_only(
    settings: s.Settings,
) -> None:
    registry = ProjectRegistry(settings)
    first = ProjectEntry("shop-prod", SignInKind.SERVICE_ACCOUNT,
                         "service-account/shop-prod/ab12", production=True)
    second = ProjectEntry("shop-staging", SignInKind.ADC)
    assert registry.add(first) is None
    registry.add(second)
    again = ProjectRegistry(s.Settings(settings.path))
    assert again.projects() == [first, second]
    assert again.get("shop-prod") == first
    # Replacing keeps the place in the list.
    assert again.add(ProjectEntry("shop-prod", SignInKind.ADC)) == first
    assert [e.sign_in for e in again.projects()] == [SignInKind.ADC, SignInKind.ADC]
    assert again.set_read_only(second, True).read_only
    assert again.get("shop-staging").read_only  # type: ignore[union-attr]
    assert again.remove("shop-prod") is not None
    assert [e.id for e in again.projects()] == ["shop-staging"]
    stored = json.loads(settings.path.read_text(encoding="utf-8"))["projects"]
    assert set(stored[0]) <= {
        "id", "sign_in", "keyring_ref", "production", "read_only", "emulator",
        "token_file", "account",
    }


def test_the_same_project_on_an_emulator_is_another_entry(
    settings: s.Settings,
) -> None:
    registry = ProjectRegistry(settings)
    registry.add(ProjectEntry("shop-prod", SignInKind.ADC))
    registry.add(ProjectEntry("shop-prod", SignInKind.NONE, emulator="127.0.0.1:9"))
    on_google = registry.get("shop-prod")
    on_emulator = registry.get("shop-prod", "127.0.0.1:9")
    assert on_google is not None and on_google.sign_in is SignInKind.ADC
    assert on_emulator is not None and on_emulator.sign_in is SignInKind.NONE


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda: ProjectEntry("Shop Prod", SignInKind.ADC), "is not a project id"),
        (lambda: ProjectEntry("shop-prod", SignInKind.USER), "needs a keyring entry"),
        (lambda: ProjectEntry("shop-prod", SignInKind.TOKEN_FILE),
         "access token file is needed"),
        (lambda: ProjectEntry("shop-prod", SignInKind.ADC, emulator="nohost"),
         "not an emulator address"),
    ],
)
def test_bad_entries_are_refused_in_plain_words(make: Any, expected: str) -> None:
    with pytest.raises(ProjectError, match=expected):
        make()


def test_unreadable_entries_are_kept_and_reported_not_dropped(
    settings: s.Settings,
) -> None:
    settings.set(s.PROJECTS, [
        {"id": "shop-prod", "sign_in": "application-default", "keyring_ref": "",
         "production": True, "read_only": False},
        {"id": "odd-one", "sign_in": "carrier-pigeon"},
    ])
    registry = ProjectRegistry(settings)
    assert [e.id for e in registry.projects()] == ["shop-prod"]
    assert "unknown sign-in 'carrier-pigeon'" in registry.problems[0]
    registry.add(ProjectEntry("shop-dev", SignInKind.ADC))
    assert len(settings.get(s.PROJECTS)) == 3  # the odd one is still there


# -- adding a project from the dialog, by each path --------------------------------


def add_by_dialog(
    qtbot: Any, kind: SignInKind, project: str, path: str = "", emulator: str = "",
    open_browser: Any = None,
) -> ProjectEntry:
    tasks = TaskRunner()
    dialog = AddProjectDialog(
        tasks, open_browser=open_browser or (lambda url: None)
    )
    qtbot.addWidget(dialog)
    qtbot.keyClicks(dialog.project_edit, project)
    dialog.emulator_edit.setText(emulator)
    dialog.sign_in_combo.setCurrentIndex(list(SignInKind).index(kind))
    assert dialog.path_edit.isVisibleTo(dialog) == bool(path)
    dialog.path_edit.setText(path)
    dialog.production_check.setChecked(True)
    added: list[ProjectEntry] = []
    dialog.project_added.connect(added.append)
    dialog.submit()
    # It signs in, or the status line says why it did not.
    qtbot.waitUntil(lambda: not dialog.busy, timeout=TIMEOUT)
    tasks.shutdown()
    assert added, dialog.status()
    entry = added[0]
    assert entry.production and entry.emulator == emulator
    return entry


def test_adding_by_each_sign_in_path_leaves_no_secret_in_a_file_or_log(
    qtbot: Any,
    settings: s.Settings,
    tmp_path: Path,
    fake_google: FakeGoogle,
    auth_emulator: Emulator,
    memory_keyring: MemoryKeyring,
    log_capture: LogCapture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    registry = ProjectRegistry(settings)
    emulator = auth_emulator.address
    secrets_: list[str] = [fake_google.client_secret]

    key = fake_google.service_account_key()
    key_file = tmp_path / "key.json"
    key_file.write_text(json.dumps(key), encoding="utf-8")
    secrets_ += key_fragments(key)
    registry.add(add_by_dialog(
        qtbot, SignInKind.SERVICE_ACCOUNT, "shop-keyed", str(key_file), emulator
    ))

    client = tmp_path / "client_secret.json"
    client.write_text(json.dumps({"installed": {
        "client_id": fake_google.client_id, "client_secret": fake_google.client_secret,
        "auth_uri": fake_google.auth_uri, "token_uri": fake_google.token_uri,
    }}), encoding="utf-8")
    user = add_by_dialog(qtbot, SignInKind.USER, "shop-user", str(client), emulator,
                         open_browser=fake_google.browser)
    assert user.account == fake_google.email
    registry.add(user)

    secrets_.append(write_adc(tmp_path, fake_google, monkeypatch))
    registry.add(add_by_dialog(qtbot, SignInKind.ADC, "shop-adc", "", emulator))

    token = tmp_path / "token"
    token.write_text("tok-" + "c" * 30, encoding="utf-8")
    secrets_.append("tok-" + "c" * 30)
    token_entry = add_by_dialog(
        qtbot, SignInKind.TOKEN_FILE, "shop-token", str(token), emulator
    )
    assert token_entry.token_file == str(token.resolve())
    registry.add(token_entry)

    assert [e.id for e in registry.projects()] == [
        "shop-keyed", "shop-user", "shop-adc", "shop-token"
    ]
    assert len(memory_keyring.entries) == 2
    listing = ProjectsDialog(registry, TaskRunner())
    qtbot.addWidget(listing)
    assert listing.list.count() == 4
    listing.list.setCurrentRow(0)
    listing.remove_selected()  # forgets the project and its key
    assert [e.id for e in registry.projects()][0] == "shop-user"
    assert len(memory_keyring.entries) == 1
    secrets_ += fake_google.issued
    assert assert_no_secret_in_files(console_dirs(), secrets_) >= 1
    assert_no_secret_logged(log_capture, secrets_)


def test_without_a_keyring_the_dialog_says_so_and_offers_the_other_paths(
    qtbot: Any, settings: s.Settings
) -> None:
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        dialog = AddProjectDialog(TaskRunner())
        qtbot.addWidget(dialog)
    finally:
        keyring.set_keyring(previous)
    assert dialog.keyring_label.isVisibleTo(dialog)
    assert "No keyring is available" in dialog.keyring_label.text()
    assert "never writes a secret to a file" in dialog.keyring_label.text()
    model = dialog.sign_in_combo.model()
    assert isinstance(model, QStandardItemModel)
    enabled = {
        kind for row, kind in enumerate(SignInKind) if model.item(row).isEnabled()
    }
    assert enabled == {SignInKind.ADC, SignInKind.TOKEN_FILE, SignInKind.NONE}
    assert dialog.kind() is SignInKind.ADC


def test_the_dialog_refuses_a_bad_project_id_before_signing_in(qtbot: Any) -> None:
    dialog = AddProjectDialog(TaskRunner())
    qtbot.addWidget(dialog)
    qtbot.keyClicks(dialog.project_edit, "My Shop")
    dialog.submit()
    assert "is not a project id" in dialog.status()


# -- switching from the window ---------------------------------------------------


@pytest.fixture()
def open_emulator() -> Iterator[Emulator]:
    emulator = start_emulator(require_auth=False, project="open-project")
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture()
def console(settings: s.Settings, tmp_path: Path) -> Iterator[ConsoleApp]:
    app = ConsoleApp(
        settings, journal_path=tmp_path / "journal.sqlite3", refresh_interval_ms=60_000
    )
    yield app
    if app.window is not None:
        app.window.close()
    app.shutdown()


def test_switching_projects_from_the_picker_and_the_shortcut(
    qtbot: Any,
    settings: s.Settings,
    tmp_path: Path,
    console: ConsoleApp,
    auth_emulator: Emulator,
    open_emulator: Emulator,
) -> None:
    token = tmp_path / "viewer.token"
    token.write_text("viewer", encoding="utf-8")
    registry = ProjectRegistry(settings)
    viewer = ProjectEntry(PROJECT, SignInKind.TOKEN_FILE, token_file=str(token),
                          emulator=auth_emulator.address, production=True)
    writable = ProjectEntry("open-project", SignInKind.NONE,
                            emulator=open_emulator.address)
    registry.add(viewer)
    registry.add(writable)
    switcher = ProjectSwitcher(console, registry=registry)

    guards: list[ReadOnlyGuard] = []
    switcher.guard_attached.connect(guards.append)
    with qtbot.waitSignal(console.window_opened, timeout=TIMEOUT) as opened:
        console.start(Start(StartKind.EMULATOR, PROJECT, auth_emulator.address))
    first = opened.args[0]
    assert first.session.production  # from the remembered entry
    with qtbot.waitSignal(guards[0].checked, timeout=TIMEOUT) as checked:
        pass
    assert "cannot change traffic" in checked.args[0]
    picker = first.project_picker
    assert [picker.itemText(i) for i in range(picker.count())] == [
        viewer.label, writable.label
    ]
    assert picker.currentIndex() == 0

    with qtbot.waitSignal(console.window_opened, timeout=TIMEOUT) as opened:
        picker.activated.emit(1)
    second = opened.args[0]
    assert second is not first and second.session.project == "open-project"
    assert second.session.endpoint.credentials is None
    with qtbot.waitSignal(guards[1].checked, timeout=TIMEOUT) as checked:
        pass
    assert checked.args[0] == ""

    second.activateWindow()
    qtbot.waitUntil(second.isActiveWindow, timeout=TIMEOUT)
    qtbot.keyClick(second, Qt.Key.Key_O, Qt.KeyboardModifier.ControlModifier)
    dialog = switcher.dialog
    assert isinstance(dialog, ProjectsDialog) and dialog.isVisible()
    assert dialog.list.count() == 2
    with qtbot.waitSignal(console.window_opened, timeout=TIMEOUT) as opened:
        dialog.open_selected()  # the first row: back to the viewer project
    assert opened.args[0].session.project == PROJECT


def test_a_token_file_given_at_start_signs_in_and_a_refused_one_prompts(
    qtbot: Any,
    settings: s.Settings,
    tmp_path: Path,
    console: ConsoleApp,
    auth_emulator: Emulator,
) -> None:
    token = tmp_path / "pipeline.token"
    token.write_text("service-admin", encoding="utf-8")
    switcher = ProjectSwitcher(console, str(token))
    guards: list[ReadOnlyGuard] = []
    switcher.guard_attached.connect(guards.append)
    with qtbot.waitSignal(console.window_opened, timeout=TIMEOUT) as opened:
        console.start(Start(StartKind.EMULATOR, PROJECT, auth_emulator.address))
    window = opened.args[0]
    assert window.session.endpoint.credentials.sign_in is SignInKind.TOKEN_FILE
    with qtbot.waitSignal(guards[0].checked, timeout=TIMEOUT) as checked:
        pass
    assert checked.args[0] == ""  # a service admin may change traffic

    auth_emulator.auth.revoke("service-admin")  # the token expired
    with qtbot.waitSignal(guards[0].sign_in_required, timeout=TIMEOUT):
        guards[0].check()
    box = switcher.sign_in_box
    assert box is not None and box.isVisible()
    assert box.text().startswith(f"Sign in again for {PROJECT}:")
    assert "Write a fresh access token" in box.text()
    box.close()
