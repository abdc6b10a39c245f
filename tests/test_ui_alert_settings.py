"""Alert thresholds set from the window: shown, checked, applied at once to
the live rules, and kept in the settings file for the next window."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QDialogButtonBox, QTabWidget, QWidget

from deployconsole.core import settings as declared
from deployconsole.core.alerts import AlertSettings
from deployconsole.core.settings import Settings
from deployconsole.gcp.channel import Endpoint
from deployconsole.ui.live import LiveErrors, LiveErrorsView, edit_alert_settings
from deployconsole.ui.live.alert_settings_dialog import AlertSettingsDialog
from deployconsole.ui.live.controller import ingest_settings_from


def apply(dialog: AlertSettingsDialog) -> None:
    dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()


def test_the_dialog_shows_the_thresholds_and_restores_the_defaults(qtbot: Any) -> None:
    current = AlertSettings.from_thresholds(
        error_ratio=0.1, window_seconds=120, min_requests=50, new_group_alerts=False
    )
    dialog = AlertSettingsDialog(current)
    qtbot.addWidget(dialog)
    assert dialog.ratio.value() == 10.0
    assert (dialog.min_requests.value(), dialog.window_seconds.value()) == (50, 120)
    assert not dialog.new_groups.isChecked()
    assert dialog.summary.text() == current.describe()
    assert "new error groups do not alert" in dialog.summary.text()

    dialog.defaults_button.click()
    defaults = AlertSettings()
    assert dialog.ratio.value() == defaults.error_ratio * 100
    assert dialog.min_requests.value() == defaults.min_requests
    assert dialog.new_groups.isChecked()

    dialog.ratio.setValue(25.0)
    assert "25.0%" in dialog.summary.text()
    apply(dialog)
    assert dialog.result() == AlertSettingsDialog.DialogCode.Accepted
    assert dialog.alerts == AlertSettings.from_thresholds(
        error_ratio=0.25, window_seconds=60, min_requests=20, new_group_alerts=True
    )


def test_thresholds_set_in_the_window_apply_at_once_and_are_kept(
    qtbot: Any, tmp_path: Path
) -> None:
    path = tmp_path / "settings.json"
    settings = Settings(path)
    parent = QWidget()
    qtbot.addWidget(parent)
    # Not started: the rules are the pipeline's, stream or no stream.
    live = LiveErrors(Endpoint("tail-test", "127.0.0.1:9"), settings, parent=parent)
    view = LiveErrorsView(live, lambda service, version: None, parent=live)
    # Placed as the window places it: the pages belong to its tabs.
    view.add_to(QTabWidget(parent))
    assert view.alert_rules_label.text() == AlertSettings().describe()

    with qtbot.waitSignal(live.alert_settings_changed):
        dialog = edit_alert_settings(live, settings, parent)
        dialog.min_requests.setValue(100)
        dialog.new_groups.setChecked(False)
        apply(dialog)

    chosen = AlertSettings.from_thresholds(
        error_ratio=0.05, window_seconds=60, min_requests=100, new_group_alerts=False
    )
    assert live.alert_settings == chosen
    assert live.pipeline.alert_settings == chosen
    assert "at least 100 in the last 60 s" in view.alert_rules_label.text()
    # Kept: the next window reads the same thresholds.
    reread = Settings(path)
    assert reread.get(declared.ALERT_MIN_REQUESTS) == 100
    assert reread.get(declared.ALERT_NEW_GROUP) is False
    assert ingest_settings_from(reread)[0].alerts == chosen


def test_cancel_changes_nothing(qtbot: Any, tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    settings = Settings(path)
    parent = QWidget()
    qtbot.addWidget(parent)
    live = LiveErrors(Endpoint("tail-test", "127.0.0.1:9"), settings, parent=parent)
    dialog = edit_alert_settings(live, settings, parent)
    dialog.min_requests.setValue(7)
    dialog.reject()
    assert live.alert_settings == AlertSettings()
    assert not path.exists()
