"""Fixtures for GUI tests: an emulator on the staged scenario and a window."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from deployconsole.emulator.scenario import ScenarioOptions
from deployconsole.emulator.server import Emulator, EmulatorOptions
from deployconsole.emulator.state import EmulatorConfig
from deployconsole.gcp.channel import Endpoint


@pytest.fixture()
def staged_emulator() -> Iterator[Emulator]:
    options = EmulatorOptions(
        config=EmulatorConfig(operation_delay=0.05, migration_delay=0.1),
        scenario=ScenarioOptions(name="staged", seed=1),
        run_traffic=False,
    )
    emulator = Emulator(options).start()
    try:
        yield emulator
    finally:
        emulator.stop()


def endpoint_of(emulator: Emulator) -> Endpoint:
    return Endpoint(emulator.state.project_id, emulator.address)


def journal_path(tmp_path: Path) -> Path:
    return tmp_path / "journal.sqlite3"
