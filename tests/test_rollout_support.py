"""Fakes for the guard's unit tests: App Engine, the log figures, a clock.

Not a test module itself (it holds no tests); test_rollout.py and
test_rollout_store.py build on it. The traffic controller, operation runner, journal and
rollout store in these tests are the real ones; only App Engine and the log
pipeline are replaced, so that each step can be driven with ``tick()`` and
a clock that moves only when told.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from deployconsole.core.appmodel import Scaling, ServiceInfo, ServingStatus, VersionInfo
from deployconsole.core.groups import ErrorGroup, ErrorGroups
from deployconsole.core.health import HealthSample
from deployconsole.core.journal import Journal
from deployconsole.core.logentry import LogRecord
from deployconsole.core.operations import AdminError, OperationRunner
from deployconsole.core.rollout import RolloutGuard
from deployconsole.core.rollout_model import GuardSettings, GuardState
from deployconsole.core.rollout_store import RolloutStore
from deployconsole.core.split import ShardBy, Split
from deployconsole.core.tracebacks import parse_tracebacks
from deployconsole.core.traffic import TrafficController

SERVICE = "default"
START = 1_764_000_000.0

IMPORT_ERROR = """\
Traceback (most recent call last):
  File "/workspace/main.py", line 5, in <module>
    from shop import exports
  File "/workspace/shop/exports.py", line 4, in <module>
    from google.cloud import storage
ModuleNotFoundError: No module named 'google.cloud.storage'"""

KEY_ERROR = """\
Traceback (most recent call last):
  File "/workspace/shop/cart.py", line 12, in view
    return CART[sku]
KeyError: 'sku-7731'"""


class Clock:
    """Epoch seconds that move only when told."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def version(version_id: str, *, serving: bool = True) -> VersionInfo:
    return VersionInfo(
        service_id=SERVICE,
        id=version_id,
        serving_status=ServingStatus.SERVING if serving else ServingStatus.STOPPED,
        runtime="python311",
        env="standard",
        scaling=Scaling.AUTOMATIC,
        instances=1,
        create_time=None,
        created_by="dev@example.com",
        version_url=f"http://127.0.0.1:9/_v/{SERVICE}/{version_id}",
        warmup_enabled=True,
    )


class FakeAppEngine:
    """One service's split and versions; mutations may be told to fail."""

    project = "demo"

    def __init__(self, split: Split, versions: list[VersionInfo]) -> None:
        self.split = split
        self.versions = versions
        self.sent: list[Split] = []
        # Errors raised by the next update_split calls, in order.
        self.failures: list[AdminError] = []
        self.lock = threading.Lock()

    def get_service(self, service_id: str) -> ServiceInfo:
        with self.lock:
            return ServiceInfo(service_id, self.split)

    def list_versions(
        self, service_id: str, *, with_instances: bool = True
    ) -> list[VersionInfo]:
        return list(self.versions)

    def update_split(
        self,
        service_id: str,
        split: Split,
        *,
        migrate: bool,
        progress: Callable[[str], None],
    ) -> str:
        with self.lock:
            self.sent.append(split)
            if self.failures:
                raise self.failures.pop(0)
            self.split = split
            return f"apps/demo/operations/op-{len(self.sent)}"


@dataclass
class FakeSignals:
    """Per-version (requests, 5xx) figures and error groups, set by the test."""

    figures: dict[str, tuple[float, float]] = field(default_factory=dict)
    error_groups: ErrorGroups = field(default_factory=ErrorGroups)
    log_records: list[LogRecord] = field(default_factory=list)

    def window(
        self, service: str, version: str, seconds: float, now: float | None = None
    ) -> HealthSample:
        requests, errors = self.figures.get(version, (0.0, 0.0))
        end = now or START
        return HealthSample(
            service, version, end - seconds, seconds, requests, errors, None, None
        )

    def groups(self) -> list[ErrorGroup]:
        return self.error_groups.ranked()

    def records(self) -> list[LogRecord]:
        return list(self.log_records)

    def add_error(self, text: str, version: str, at: float) -> ErrorGroup:
        traceback = parse_tracebacks(text)[0]
        group, _ = self.error_groups.add_traceback(
            traceback, timestamp=at, service=SERVICE, version=version
        )
        return group


@dataclass
class Rig:
    """A guard over fakes, with the real controller, journal and store."""

    engine: FakeAppEngine
    signals: FakeSignals
    clock: Clock
    journal: Journal
    store: RolloutStore
    runner: OperationRunner
    traffic: TrafficController

    def guard(
        self, candidate: str = "v2", settings: GuardSettings | None = None
    ) -> RolloutGuard:
        settings = settings or GuardSettings(hold_seconds=10, smoke=None)
        return RolloutGuard(
            self.traffic, self.signals, SERVICE, candidate, settings,
            store=self.store, clock=self.clock, operation_timeout=10,
        )

    def tick_until(
        self, guard: RolloutGuard, *states: GuardState, limit: int = 50
    ) -> GuardState:
        """Tick (moving the clock a second each time) until a state in
        ``states``; fails if it is not reached within ``limit`` ticks."""
        for _ in range(limit):
            if guard.state in states:
                return guard.state
            guard.tick()
            self.clock.advance(1.0)
        raise AssertionError(f"guard stuck in {guard.state} (wanted {states})")


def make_rig(tmp_path: Path, split: Split | None = None) -> Rig:
    split = split or Split.of({"v1": 1.0}, ShardBy.IP)
    engine = FakeAppEngine(split, [version("v1"), version("v2"), version("v3")])
    journal = Journal(tmp_path / "journal.sqlite3")
    store = RolloutStore(journal.path)
    runner = OperationRunner()
    clock = Clock()
    traffic = TrafficController(
        engine, runner, journal=journal, identity="tester@example.com", clock=clock
    )
    return Rig(engine, FakeSignals(), clock, journal, store, runner, traffic)
