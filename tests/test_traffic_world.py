"""A running emulator with a known service, for the traffic and CLI tests.

Not a test module itself (it holds no tests); test_traffic_emulator.py and
test_cli_traffic.py build their fixtures from :func:`start_world`.

The scenario engine populates its own services (default, api, worker); the
tests work on a service of their own, ``shop``, made through admin_ops the
way ``gcloud app deploy`` would:

- v1: python27, standard, automatic scaling, warmup; all the traffic,
  two instances;
- v2: python311, standard, automatic scaling, warmup;
- v3: python311, standard, automatic scaling, no warmup;
- flex1: flexible environment; manual1: manual scaling.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from google.cloud.appengine_admin_v1 import types as ae

from deployconsole.emulator import admin_ops
from deployconsole.emulator.server import Emulator, EmulatorOptions
from deployconsole.emulator.state import DEFAULT_PROJECT, EmulatorConfig
from deployconsole.gcp.channel import Endpoint

SERVICE = "shop"
DEPLOYER = "dev@example.com"
WARMUP = ae.InboundServiceType.INBOUND_SERVICE_WARMUP


def _version(version_id: str, runtime: str, **fields: Any) -> ae.Version:
    if "manual_scaling" not in fields:
        fields.setdefault("automatic_scaling", ae.AutomaticScaling())
    fields.setdefault("inbound_services", [WARMUP])
    fields.setdefault("env", "standard")
    return ae.Version(id=version_id, runtime=runtime, **fields)


@dataclass
class World:
    emulator: Emulator

    @property
    def address(self) -> str:
        return self.emulator.address

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint(DEFAULT_PROJECT, emulator=self.emulator.address)

    def live_split(self, service_id: str = SERVICE) -> dict[str, float]:
        return self.emulator.state.split_of(service_id)

    def set_split(self, allocations: dict[str, float], who: str) -> None:
        """Someone else changes the split (as the web console would)."""
        admin_ops.set_split(
            self.emulator.state, SERVICE, allocations, shard_by="IP", principal=who
        )

    def fault(self, spec: str) -> None:
        self.emulator.state.faults.set(spec)


def start_world(operation_delay: float = 0.05) -> World:
    emulator = Emulator(
        EmulatorOptions(
            run_traffic=False,
            config=EmulatorConfig(
                operation_delay=operation_delay, migration_delay=operation_delay * 2
            ),
        )
    ).start()
    state = emulator.state
    versions = [
        _version("v1", "python27"),
        _version("v2", "python311"),
        _version("v3", "python311", inbound_services=[]),
        _version("flex1", "python311", env="flexible"),
        _version("manual1", "python311", manual_scaling=ae.ManualScaling(instances=1)),
    ]
    for version in versions:
        admin_ops.create_version(state, SERVICE, version, principal=DEPLOYER)
    with state.lock:
        state.instances[(SERVICE, "v1")] = {
            name: ae.Instance(
                name=f"{state.version_name(SERVICE, 'v1')}/instances/{name}",
                id=name,
                availability=ae.Instance.Availability.DYNAMIC,
            )
            for name in ("i-1", "i-2")
        }
    return World(emulator)
