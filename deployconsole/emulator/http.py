"""STUB: loopback HTTP endpoints of each version (being written)."""

from __future__ import annotations

from deployconsole.emulator.state import EmulatorState


class VersionHttpServer:
    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass
