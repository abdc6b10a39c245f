"""Guarded rollouts from the window, on the emulator's staged scenario."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deployconsole.core.rollout_model import GuardSettings, GuardState
from deployconsole.core.smoke import SmokePlan
from deployconsole.emulator.scenario import ScenarioOptions
from deployconsole.emulator.server import Emulator, EmulatorOptions
from deployconsole.emulator.state import EmulatorConfig
from deployconsole.gcp.channel import Endpoint
from deployconsole.ui.mainwindow import MainWindow
from deployconsole.ui.report_dialog import ReportDialog
from deployconsole.ui.rollout_panel import RolloutPanel
from deployconsole.ui.session import ConsoleSession

TIMEOUT = 60_000


@pytest.fixture()
def busy_staged() -> Iterator[Emulator]:
    options = EmulatorOptions(
        config=EmulatorConfig(operation_delay=0.05, migration_delay=0.1),
        scenario=ScenarioOptions(name="staged", seed=2, rate=150.0),
    )
    emulator = Emulator(options).start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture()
def window(
    qtbot: Any, busy_staged: Emulator, tmp_path: Path, isolated_home: str
) -> Iterator[MainWindow]:
    endpoint = Endpoint(busy_staged.state.project_id, busy_staged.address)
    session = ConsoleSession(endpoint, journal_path=tmp_path / "journal.sqlite3")
    window = MainWindow(endpoint, session=session, refresh_interval_ms=60_000)
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.snapshot_applied, timeout=TIMEOUT):
        window.show()
    yield window
    window.shutdown()


def quick(smoke: bool) -> GuardSettings:
    return GuardSettings(
        steps=(50.0, 100.0),
        hold_seconds=3.0,
        min_requests=10,
        smoke=SmokePlan(paths=("/",), timeout=5.0, retries=0) if smoke else None,
        log_timeout=20.0,
    )


def run_rollout(
    qtbot: Any, window: MainWindow, version: str, settings: GuardSettings
) -> RolloutPanel:
    with qtbot.waitSignal(window.rollouts.rollout_started, timeout=TIMEOUT) as started:
        window.rollouts.start("default", version, settings)
    panel = started.args[0]
    assert isinstance(panel, RolloutPanel)
    with qtbot.waitSignal(panel.finished, timeout=TIMEOUT):
        pass
    return panel


def test_broken_version_fails_at_smoke_and_moves_no_traffic(
    qtbot: Any, window: MainWindow, busy_staged: Emulator
) -> None:
    panel = run_rollout(qtbot, window, "v3-broken", quick(smoke=True))
    assert panel.result is not None
    assert panel.result.state is GuardState.REJECTED
    assert not panel.result.traffic_moved
    assert busy_staged.state.split_of("default") == {"v1": 1.0}
    assert panel.checks.count() >= 1
    assert "rejected" in panel.state_label.text()


def test_healthy_version_is_promoted_with_live_progress(
    qtbot: Any, window: MainWindow, busy_staged: Emulator
) -> None:
    panel = run_rollout(qtbot, window, "v2-ok", quick(smoke=True))
    assert panel.result is not None
    assert panel.result.state is GuardState.PROMOTED, panel.result.reason
    assert busy_staged.state.split_of("default") == {"v2-ok": 1.0}
    actions = [row.action for row in window.session.journal.rows(service="default")]
    assert "guard-step" in actions


def test_broken_version_without_smoke_is_rolled_back_and_reported(
    qtbot: Any, window: MainWindow, busy_staged: Emulator
) -> None:
    panel = run_rollout(qtbot, window, "v3-broken", quick(smoke=False))
    assert panel.result is not None
    assert panel.result.state is GuardState.ROLLED_BACK, panel.result.reason
    assert busy_staged.state.split_of("default") == {"v1": 1.0}
    assert any("DistributionNotFound" in tb for tb in panel.result.tracebacks)

    with qtbot.waitSignal(window.rollouts.report_drafted, timeout=TIMEOUT) as drafted:
        panel.report_button.click()
    dialog = drafted.args[0]
    assert isinstance(dialog, ReportDialog)
    text = dialog.text.toPlainText()
    for heading in ("Detection", "Escalation", "Remediation", "Prevention"):
        assert heading in text
    assert "DistributionNotFound" in text
