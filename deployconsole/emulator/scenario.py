"""STUB: the scenario engine (being written)."""

from __future__ import annotations

from dataclasses import dataclass

from deployconsole.emulator.state import EmulatorState

SCENARIOS = ("bad-push", "staged")


@dataclass
class ScenarioOptions:
    name: str = "bad-push"
    seed: int = 0
    # Requests per second across the whole project.
    rate: float = 20.0
    # bad-push: seconds after start when the broken version takes traffic.
    bad_push_at: float = 30.0


class ScenarioEngine:
    def __init__(self, state: EmulatorState, options: ScenarioOptions) -> None:
        self.state = state
        self.options = options

    def populate(self) -> None:
        pass

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass
