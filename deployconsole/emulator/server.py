"""Assembles and runs the emulator: gRPC server, HTTP endpoints, scenario."""

from __future__ import annotations

import logging
from concurrent import futures
from dataclasses import dataclass, field

import grpc

from deployconsole.emulator import admin, auth, logging_api
from deployconsole.emulator.faults import Faults
from deployconsole.emulator.http import VersionHttpServer
from deployconsole.emulator.logstore import LogStore
from deployconsole.emulator.scenario import ScenarioEngine, ScenarioOptions
from deployconsole.emulator.state import Clock, EmulatorConfig, EmulatorState, RealClock

log = logging.getLogger("deployconsole.emulator")


@dataclass
class EmulatorOptions:
    config: EmulatorConfig = field(default_factory=EmulatorConfig)
    scenario: ScenarioOptions = field(default_factory=ScenarioOptions)
    faults: list[str] = field(default_factory=list)
    # Start the traffic generator; tests that drive traffic by hand set False.
    run_traffic: bool = True
    # Require a bearer token on every call (see emulator/auth.py).
    require_auth: bool = False


class Emulator:
    """One emulated project; start() it, use ``address``, then stop() it."""

    def __init__(
        self, options: EmulatorOptions | None = None, clock: Clock | None = None
    ):
        self.options = options or EmulatorOptions()
        faults = Faults(seed=self.options.scenario.seed)
        for spec in self.options.faults:
            faults.set(spec)
        self.state = EmulatorState(
            config=self.options.config, clock=clock or RealClock(), faults=faults
        )
        self.state.logs = LogStore(self.state)
        self.http = VersionHttpServer(self.state)
        self.scenario = ScenarioEngine(self.state, self.options.scenario)
        self.auth = auth.EmulatorAuth(self.options.require_auth)
        self._server: grpc.Server | None = None
        self.port = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def faults(self) -> Faults:
        return self.state.faults

    def start(self, port: int = 0) -> Emulator:
        self.http.start()
        self.scenario.populate()
        server = grpc.server(
            futures.ThreadPoolExecutor(
                max_workers=32, thread_name_prefix="emulator-rpc"
            ),
            options=[
                ("grpc.max_send_message_length", -1),
                ("grpc.max_receive_message_length", -1),
                ("grpc.so_reuseport", 0),
            ],
            interceptors=self.auth.interceptors(),
        )
        server.add_generic_rpc_handlers(
            tuple(admin.build_handlers(self.state))
            + tuple(logging_api.build_handlers(self.state))
            + tuple(auth.build_handlers(self.state, self.auth))
        )
        self.port = server.add_insecure_port(f"127.0.0.1:{port}")
        if self.port == 0:
            raise OSError(f"cannot listen on 127.0.0.1:{port}")
        server.start()
        self._server = server
        if self.options.run_traffic:
            self.scenario.start()
        log.info(
            "Emulator for project %s listening on %s.",
            self.state.project_id,
            self.address,
        )
        return self

    def stop(self) -> None:
        self.scenario.stop()
        # Closing the log store first ends open tail streams cleanly; the
        # server's stop would cancel them with UNAVAILABLE instead.
        if self.state.logs is not None:
            self.state.logs.close()
        if self._server is not None:
            self._server.stop(grace=0.5).wait()
            self._server = None
        self.http.stop()

    def wait(self) -> None:
        if self._server is not None:
            self._server.wait_for_termination()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
