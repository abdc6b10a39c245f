"""STUB: the emulator's log store (being written)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from deployconsole.emulator.state import EmulatorState


class LogStore:
    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self.entries: list[Any] = []

    def write(self, entries: Sequence[Any]) -> None:
        self.entries.extend(entries)

    def close(self) -> None:
        pass
