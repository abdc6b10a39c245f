"""STUB: App Engine Admin v1 handlers (being written)."""

from __future__ import annotations

import grpc

from deployconsole.emulator.state import EmulatorState


def build_handlers(state: EmulatorState) -> list[grpc.GenericRpcHandler]:
    return []
