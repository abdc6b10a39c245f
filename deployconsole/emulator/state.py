"""The emulator's world: one project's application, services, versions,
instances, operations and logs, shared by the gRPC handlers, the HTTP
endpoints and the scenario engine.

Everything mutable is guarded by ``state.lock`` (re-entrant). The admin
messages are kept as the client packages' proto-plus types, so the handlers
return them as they are.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from google.cloud.appengine_admin_v1 import types as ae

from deployconsole.emulator.faults import Faults

if TYPE_CHECKING:
    from deployconsole.emulator.logstore import LogStore

DEFAULT_PROJECT = "deployconsole-demo"
DEFAULT_PRINCIPAL = "deployer@deployconsole-demo.iam.gserviceaccount.com"


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch."""
        ...


class RealClock:
    def now(self) -> float:
        return time.time()


class ManualClock:
    """A clock that moves only when told, for deterministic tests."""

    def __init__(self, start: float = 1_764_000_000.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds


@dataclass
class EmulatorConfig:
    project_id: str = DEFAULT_PROJECT
    location_id: str = "us-central"
    # How long a mutation's long-running operation takes to finish.
    operation_delay: float = 1.0
    # A gradual (migrate_traffic) split change takes longer, as on App Engine.
    migration_delay: float = 3.0
    # Who the audit log names as the caller (no auth in the emulator).
    principal_email: str = DEFAULT_PRINCIPAL


@dataclass
class EmulatorState:
    config: EmulatorConfig
    clock: Clock
    faults: Faults
    lock: threading.RLock = field(default_factory=threading.RLock)
    application: ae.Application = field(default_factory=ae.Application)
    # Service id -> Service, in creation order.
    services: dict[str, ae.Service] = field(default_factory=dict)
    # Service id -> version id -> Version, in creation order.
    versions: dict[str, dict[str, ae.Version]] = field(default_factory=dict)
    # (service id, version id) -> instance id -> Instance.
    instances: dict[tuple[str, str], dict[str, ae.Instance]] = field(
        default_factory=dict
    )
    # (service id, version id) -> behaviour object of the scenario engine.
    behaviours: dict[tuple[str, str], Any] = field(default_factory=dict)
    # Set once the log store exists (see logstore.py).
    logs: LogStore | None = None
    # "http://127.0.0.1:PORT", set by the HTTP endpoint server when it starts.
    http_base: str = "http://127.0.0.1:0"
    # Resource name -> the long-running operation now changing it (kept by
    # operations.OperationStore; read by changes made without an operation).
    running_operations: dict[str, str] = field(default_factory=dict)

    @property
    def project_id(self) -> str:
        return self.config.project_id

    def app_name(self) -> str:
        return f"apps/{self.project_id}"

    def service_name(self, service_id: str) -> str:
        return f"apps/{self.project_id}/services/{service_id}"

    def version_name(self, service_id: str, version_id: str) -> str:
        return f"{self.service_name(service_id)}/versions/{version_id}"

    def version_url(self, service_id: str, version_id: str) -> str:
        # App Engine's version URLs are VERSION-dot-SERVICE-dot-PROJECT
        # host names; on loopback without DNS the service and version are in
        # the path instead, which every HTTP client can reach.
        return f"{self.http_base}/_v/{service_id}/{version_id}"

    def service_url(self, service_id: str) -> str:
        return f"{self.http_base}/_s/{service_id}"

    def split_of(self, service_id: str) -> dict[str, float]:
        """The live allocations of a service (version id -> fraction)."""
        with self.lock:
            service = self.services[service_id]
            return dict(service.split.allocations)
