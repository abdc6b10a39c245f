"""Read-only mode: a viewer sees everything, changes nothing, and is told
why; a chosen read-only project; a change refused mid-session; a sign-in
that stopped working."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_auth_fakes import PROJECT, auth_emulator, start_emulator

from deployconsole.core.operations import OutcomeStatus
from deployconsole.emulator.server import Emulator
from deployconsole.gcp.auth import token_file_identity
from deployconsole.gcp.channel import Endpoint
from deployconsole.ui.dialogs import ConfirmDialog
from deployconsole.ui.mainwindow import MainWindow
from deployconsole.ui.read_only import ReadOnlyGuard
from deployconsole.ui.session import ConsoleSession

__all__ = ["auth_emulator"]

TIMEOUT = 10_000
SERVICE_ADMIN_WORDS = (
    "Changing traffic needs the App Engine Service Admin role "
    "(roles/appengine.serviceAdmin)"
)


@pytest.fixture()
def windows(qtbot: Any) -> Iterator[list[MainWindow]]:
    made: list[MainWindow] = []
    yield made
    for window in made:
        window.shutdown()


def open_window(
    qtbot: Any,
    windows: list[MainWindow],
    emulator: Emulator,
    tmp_path: Path,
    token: str | None,
) -> MainWindow:
    identity = None
    if token is not None:
        path = tmp_path / f"{token}.token"
        path.write_text(token, encoding="utf-8")
        identity = token_file_identity(PROJECT, str(path))
    endpoint = Endpoint(PROJECT, emulator.address, credentials=identity)
    session = ConsoleSession(endpoint, journal_path=tmp_path / "journal.sqlite3")
    window = MainWindow(endpoint, session=session, refresh_interval_ms=60_000)
    windows.append(window)
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.snapshot_applied, timeout=TIMEOUT):
        window.show()
    return window


def guard_of(window: MainWindow, *, chosen: bool = False) -> ReadOnlyGuard:
    return ReadOnlyGuard(window.actions_, window.session, window.tasks, chosen=chosen)


def select_a_version(window: MainWindow) -> None:
    version = next(v for v in window.model.versions_of("default"))
    window.select("default", version.id)
    assert window.selection()[1] is not None


def test_a_viewer_sees_everything_changes_nothing_and_is_told_why(
    qtbot: Any, windows: list[MainWindow], auth_emulator: Emulator, tmp_path: Path
) -> None:
    window = open_window(qtbot, windows, auth_emulator, tmp_path, "viewer")
    assert window.model.version_count() >= 2  # it reads everything
    guard = guard_of(window)
    with qtbot.waitSignal(guard.checked, timeout=TIMEOUT) as checked:
        guard.start()
    reason = checked.args[0]
    assert reason.startswith(f"Read-only: access token from {tmp_path}")
    assert f"cannot change traffic in {PROJECT}" in reason
    assert SERVICE_ADMIN_WORDS in reason

    select_a_version(window)
    for act in window.actions_.mutations:
        assert not act.isEnabled(), act.text()
        assert act.toolTip() == reason
    before = auth_emulator.state.split_of("default")
    window.actions_.send_all.trigger()  # a disabled action does nothing
    assert auth_emulator.state.split_of("default") == before


def test_a_service_admin_may_change_traffic(
    qtbot: Any, windows: list[MainWindow], auth_emulator: Emulator, tmp_path: Path
) -> None:
    window = open_window(qtbot, windows, auth_emulator, tmp_path, "service-admin")
    guard = guard_of(window)
    with qtbot.waitSignal(guard.checked, timeout=TIMEOUT) as checked:
        guard.start()
    assert checked.args[0] == ""
    select_a_version(window)
    assert window.actions_.send_all.isEnabled()
    assert window.actions_.edit_split.isEnabled()


def test_read_only_chosen_for_a_project_holds_whatever_the_role(
    qtbot: Any, windows: list[MainWindow], auth_emulator: Emulator, tmp_path: Path
) -> None:
    window = open_window(qtbot, windows, auth_emulator, tmp_path, "service-admin")
    guard = guard_of(window, chosen=True)
    with qtbot.waitSignal(guard.checked, timeout=TIMEOUT) as checked:
        guard.start()
    assert checked.args[0].startswith(f"Read-only: you chose read-only for {PROJECT}")
    select_a_version(window)
    assert not window.actions_.send_all.isEnabled()
    with qtbot.waitSignal(guard.read_only_changed, timeout=TIMEOUT) as changed:
        guard.set_chosen(False)
    assert changed.args[0] == ""
    window.actions_.update_enabled()
    assert window.actions_.send_all.isEnabled()
    assert "100%" in window.actions_.send_all.toolTip()  # its own tooltip again


def test_a_change_refused_mid_session_turns_the_console_read_only(
    qtbot: Any, windows: list[MainWindow], tmp_path: Path
) -> None:
    emulator = start_emulator(require_auth=False)
    try:
        window = open_window(qtbot, windows, emulator, tmp_path, None)
        guard = guard_of(window)
        with qtbot.waitSignal(guard.checked, timeout=TIMEOUT) as checked:
            guard.start()
        assert checked.args[0] == ""
        emulator.faults.set("permission-denied=UpdateService")  # role taken away

        service = emulator.state.split_of("default")
        target = next(
            v.id for v in window.model.versions_of("default") if v.id not in service
        )
        window.select("default", target)
        with qtbot.waitSignal(
            window.actions_.confirmation_shown, timeout=TIMEOUT
        ) as shown:
            window.actions_.send_all.trigger()
        dialog = shown.args[0]
        assert isinstance(dialog, ConfirmDialog)
        outcomes: list[Any] = []
        window.actions_.operation_ended.connect(
            lambda _operation, outcome: outcomes.append(outcome)
        )
        with qtbot.waitSignal(guard.read_only_changed, timeout=TIMEOUT):
            dialog.accept()
        assert [outcome.status for outcome in outcomes] == [OutcomeStatus.PERMISSION]
        assert SERVICE_ADMIN_WORDS in guard.reason
        assert "anonymous caller" in guard.reason
        assert not window.actions_.send_all.isEnabled()
    finally:
        emulator.stop()


def test_a_sign_in_that_stopped_working_asks_to_sign_in_again(
    qtbot: Any, windows: list[MainWindow], auth_emulator: Emulator, tmp_path: Path
) -> None:
    window = open_window(qtbot, windows, auth_emulator, tmp_path, "viewer")
    auth_emulator.auth.revoke("viewer")  # the token expired
    guard = guard_of(window)
    with qtbot.waitSignal(guard.sign_in_required, timeout=TIMEOUT) as asked:
        guard.start()
    message = asked.args[0]
    assert message.startswith(f"Sign in again for {PROJECT}:")
    assert "Write a fresh access token" in message
    assert "Traceback" not in message
