"""The main window against the emulator: listing, and every traffic action."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QDialog
from ui_support import endpoint_of, journal_path, staged_emulator

from deployconsole.core.journal import Journal
from deployconsole.core.operations import OutcomeStatus
from deployconsole.emulator import admin_ops
from deployconsole.emulator.server import Emulator
from deployconsole.ui.dialogs import ConfirmDialog
from deployconsole.ui.mainwindow import MainWindow
from deployconsole.ui.session import ConsoleSession

__all__ = ["staged_emulator"]

TIMEOUT = 10_000


def make_window(
    qtbot: Any, emulator: Emulator, tmp_path: Path, *, production: bool = False
) -> MainWindow:
    endpoint = endpoint_of(emulator)
    session = ConsoleSession(
        endpoint, journal_path=journal_path(tmp_path), production=production
    )
    window = MainWindow(endpoint, session=session, refresh_interval_ms=60_000)
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.snapshot_applied, timeout=TIMEOUT):
        window.show()
    return window


@pytest.fixture()
def window(
    qtbot: Any, staged_emulator: Emulator, tmp_path: Path
) -> Iterator[MainWindow]:
    window = make_window(qtbot, staged_emulator, tmp_path)
    yield window
    window.shutdown()


def live_split(emulator: Emulator, service: str = "default") -> dict[str, float]:
    return emulator.state.split_of(service)


def confirm_next(qtbot: Any, window: MainWindow, trigger: Any) -> ConfirmDialog:
    with qtbot.waitSignal(window.actions_.confirmation_shown, timeout=TIMEOUT) as shown:
        trigger()
    dialog = shown.args[0]
    assert isinstance(dialog, ConfirmDialog)
    return dialog


def accept_and_wait(qtbot: Any, window: MainWindow, dialog: ConfirmDialog) -> Any:
    with qtbot.waitSignal(window.actions_.operation_ended, timeout=TIMEOUT) as ended:
        dialog.accept()
    return ended.args[1]


def dialog_rows(dialog: ConfirmDialog) -> dict[str, tuple[str, str]]:
    assert dialog.table is not None
    table = dialog.table
    return {
        table.item(row, 0).text(): (
            table.item(row, 1).text(),
            table.item(row, 2).text(),
        )
        for row in range(table.rowCount())
    }


def test_lists_services_versions_and_traffic(window: MainWindow) -> None:
    model = window.model
    assert [
        model.service_at(model.index(r, 0)).id for r in range(model.rowCount())
    ] == ["default", "api", "worker"]
    default = model.service("default")
    assert default is not None and default.split.as_dict() == {"v1": 1.0}
    ids = {v.id for v in model.versions_of("default")}
    assert {"v1", "v2-ok", "v3-broken"} <= ids
    assert "of 210 versions" in window.count_label.text()
    assert window.read_label.text().startswith("Read at")


def test_send_all_traffic_shows_before_after_and_applies(
    qtbot: Any, window: MainWindow, staged_emulator: Emulator
) -> None:
    window.select("default", "v2-ok")
    dialog = confirm_next(qtbot, window, window.actions_.send_all.trigger)
    rows = dialog_rows(dialog)
    assert rows["v1"] == ("100%", "→ —")
    assert rows["v2-ok"] == ("—", "→ 100%")

    outcome = accept_and_wait(qtbot, window, dialog)
    assert outcome.status is OutcomeStatus.SUCCEEDED
    assert outcome.server_split.as_dict() == {"v2-ok": 1.0}
    assert live_split(staged_emulator) == {"v2-ok": 1.0}
    qtbot.waitUntil(
        lambda: window.model.service("default").split.as_dict() == {"v2-ok": 1.0},
        timeout=TIMEOUT,
    )
    rows_journal = window.session.journal.rows(service="default")
    assert rows_journal[-1].action == "send-all-traffic"
    assert rows_journal[-1].outcome == "succeeded"


def test_roll_back_restores_split_before_latest_change(
    qtbot: Any, window: MainWindow, staged_emulator: Emulator
) -> None:
    # Someone else (gcloud) moves traffic; the console rolls it back.
    admin_ops.set_split(
        staged_emulator.state,
        "default",
        {"v1": 0.5, "v2-ok": 0.5},
        principal="someone@example.com",
    )
    with qtbot.waitSignal(window.snapshot_applied, timeout=TIMEOUT):
        window.refresh()
    window.select("default")
    dialog = confirm_next(qtbot, window, window.actions_.rollback.trigger)
    assert "someone@example.com" in dialog.heading.text()
    rows = dialog_rows(dialog)
    assert rows["v1"] == ("50%", "→ 100%")
    outcome = accept_and_wait(qtbot, window, dialog)
    assert outcome.status is OutcomeStatus.SUCCEEDED
    assert live_split(staged_emulator) == {"v1": 1.0}


def test_failed_operation_is_reported_and_split_is_the_servers(
    qtbot: Any, window: MainWindow, staged_emulator: Emulator
) -> None:
    staged_emulator.faults.set("operation-error=UpdateService")
    window.select("default", "v2-ok")
    dialog = confirm_next(qtbot, window, window.actions_.send_all.trigger)
    with qtbot.waitSignal(window.actions_.message_shown, timeout=TIMEOUT) as told:
        outcome = accept_and_wait(qtbot, window, dialog)
    assert outcome.status is OutcomeStatus.FAILED
    assert "failed" in told.args[1].lower()
    assert outcome.server_split is not None
    assert outcome.server_split.as_dict() == {"v1": 1.0}
    assert live_split(staged_emulator) == {"v1": 1.0}
    assert window.session.journal.rows(service="default")[-1].outcome == "failed"


def test_unavailable_mid_operation_is_retried(
    qtbot: Any, window: MainWindow, staged_emulator: Emulator
) -> None:
    staged_emulator.faults.set("unavailable=GetOperation:2")
    window.select("default", "v2-ok")
    dialog = confirm_next(qtbot, window, window.actions_.send_all.trigger)
    outcome = accept_and_wait(qtbot, window, dialog)
    assert outcome.status is OutcomeStatus.SUCCEEDED
    assert live_split(staged_emulator) == {"v2-ok": 1.0}


def test_split_changed_by_someone_else_asks_again(
    qtbot: Any, window: MainWindow, staged_emulator: Emulator
) -> None:
    window.select("default", "v2-ok")
    dialog = confirm_next(qtbot, window, window.actions_.send_all.trigger)
    admin_ops.set_split(staged_emulator.state, "default", {"v1": 0.9, "v3-broken": 0.1})

    with qtbot.waitSignal(window.actions_.confirmation_shown, timeout=TIMEOUT) as again:
        outcome = accept_and_wait(qtbot, window, dialog)
    assert outcome.status is OutcomeStatus.CHANGED
    # Nothing was sent: the other change stands.
    assert live_split(staged_emulator) == {"v1": 0.9, "v3-broken": 0.1}
    second = again.args[0]
    assert "changed since it was shown" in second.heading.text()
    rows = dialog_rows(second)
    assert rows["v3-broken"] == ("10%", "→ —")
    outcome = accept_and_wait(qtbot, window, second)
    assert outcome.status is OutcomeStatus.SUCCEEDED
    assert live_split(staged_emulator) == {"v2-ok": 1.0}


def test_permission_denied_changes_nothing(
    qtbot: Any, window: MainWindow, staged_emulator: Emulator
) -> None:
    staged_emulator.faults.set("permission-denied=UpdateService")
    window.select("default", "v2-ok")
    dialog = confirm_next(qtbot, window, window.actions_.send_all.trigger)
    with qtbot.waitSignal(window.actions_.message_shown, timeout=TIMEOUT) as told:
        outcome = accept_and_wait(qtbot, window, dialog)
    assert outcome.status is OutcomeStatus.PERMISSION
    assert "permission" in told.args[1].lower()
    assert live_split(staged_emulator) == {"v1": 1.0}


def test_failed_reads_show_a_stale_state(
    qtbot: Any, window: MainWindow, staged_emulator: Emulator
) -> None:
    staged_emulator.faults.set("permission-denied=ListServices")
    with qtbot.waitSignal(window.refresh_failed, timeout=TIMEOUT):
        window.refresh()
    assert window.read_label.text().startswith("Stale: last read at")
    staged_emulator.faults.clear()
    with qtbot.waitSignal(window.snapshot_applied, timeout=TIMEOUT):
        window.refresh()
    assert window.read_label.text().startswith("Read at")


def test_production_project_asks_for_the_project_id(
    qtbot: Any, staged_emulator: Emulator, tmp_path: Path
) -> None:
    window = make_window(qtbot, staged_emulator, tmp_path, production=True)
    try:
        window.select("default", "v2-ok")
        dialog = confirm_next(qtbot, window, window.actions_.send_all.trigger)
        assert not dialog.confirm_button_enabled()
        assert dialog.project_edit is not None
        dialog.project_edit.setText("wrong-project")
        assert not dialog.confirm_button_enabled()
        dialog.project_edit.setText(staged_emulator.state.project_id)
        assert dialog.confirm_button_enabled()
        dialog.reject()
        assert live_split(staged_emulator) == {"v1": 1.0}
    finally:
        window.shutdown()


def test_delete_refuses_a_version_with_traffic_and_deletes_one_without(
    qtbot: Any, window: MainWindow, staged_emulator: Emulator
) -> None:
    window.select("default", "v1")
    with qtbot.waitSignal(window.actions_.message_shown, timeout=TIMEOUT) as told:
        window.actions_.delete.trigger()
    assert "traffic" in told.args[1]
    assert "v1" in staged_emulator.state.versions["default"]

    window.select("default", "v3-broken")
    dialog = confirm_next(qtbot, window, window.actions_.delete.trigger)
    outcome = accept_and_wait(qtbot, window, dialog)
    assert outcome.status is OutcomeStatus.SUCCEEDED
    assert "v3-broken" not in staged_emulator.state.versions["default"]
    qtbot.waitUntil(
        lambda: "v3-broken" not in {v.id for v in window.model.versions_of("default")},
        timeout=TIMEOUT,
    )


def test_stop_and_start_a_version(
    qtbot: Any, window: MainWindow, staged_emulator: Emulator
) -> None:
    window.select("default", "v3-broken")
    dialog = confirm_next(qtbot, window, window.actions_.stop.trigger)
    outcome = accept_and_wait(qtbot, window, dialog)
    assert outcome.status is OutcomeStatus.SUCCEEDED
    version = staged_emulator.state.versions["default"]["v3-broken"]
    assert version.serving_status.name == "STOPPED"

    qtbot.waitUntil(
        lambda: window.actions_.start.isEnabled() or _reselect(window), timeout=TIMEOUT
    )
    dialog = confirm_next(qtbot, window, window.actions_.start.trigger)
    outcome = accept_and_wait(qtbot, window, dialog)
    assert outcome.status is OutcomeStatus.SUCCEEDED
    version = staged_emulator.state.versions["default"]["v3-broken"]
    assert version.serving_status.name == "SERVING"


def _reselect(window: MainWindow) -> bool:
    window.select("default", "v3-broken")
    return False


def test_split_editor_sets_several_versions(
    qtbot: Any, window: MainWindow, staged_emulator: Emulator
) -> None:
    window.select("default")
    window.actions_.edit_split.trigger()
    qtbot.waitUntil(lambda: _editor(window) is not None, timeout=TIMEOUT)
    editor = _editor(window)
    assert editor is not None
    editor.set_weight("v1", 90.0)
    editor.set_weight("v2-ok", 10.0)
    with qtbot.waitSignal(window.actions_.confirmation_shown, timeout=TIMEOUT) as shown:
        editor.accept()
    outcome = accept_and_wait(qtbot, window, shown.args[0])
    assert outcome.status is OutcomeStatus.SUCCEEDED
    assert live_split(staged_emulator) == {"v1": 0.9, "v2-ok": 0.1}


def _editor(window: MainWindow) -> Any:
    from deployconsole.ui.split_editor import SplitEditorDialog

    found = [d for d in window.findChildren(SplitEditorDialog) if d.isVisible()]
    return found[0] if found else None


def test_journal_survives_a_restart(
    qtbot: Any, window: MainWindow, staged_emulator: Emulator, tmp_path: Path
) -> None:
    window.select("default", "v2-ok")
    dialog = confirm_next(qtbot, window, window.actions_.send_all.trigger)
    accept_and_wait(qtbot, window, dialog)
    window.shutdown()
    reopened = Journal(journal_path(tmp_path))
    rows = reopened.rows(service="default")
    assert [r.action for r in rows] == ["send-all-traffic"]
    assert rows[0].split_after is not None
    assert rows[0].split_after.as_dict() == {"v2-ok": 1.0}
    assert isinstance(dialog, QDialog)
