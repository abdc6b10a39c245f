"""The scenario engine: the emulated project's world, traffic and incidents.

``populate()`` deploys the scenario's world. Traffic then arrives at
``options.rate`` requests/s across the project (Poisson arrivals), each
request sent to a service by weight and to a version by the service's LIVE
split, read at that request. A request is logged when it completes, as App
Engine does, and a tick's entries go to the log store in one write.

The engine is steppable: ``tick(now)`` serves everything due up to ``now``;
``run_for(seconds, step)`` advances a ManualClock and ticks, which is how
tests replay a seeded scenario exactly; the background thread of
``start()`` ticks the same way on the real clock. Same seed, same clock
steps, same traffic and logs.

Scenarios:
    bad-push: ``bad_push_at`` seconds after the start, a developer deploys a
        python3 version of ``default`` that fails at import and gives it all
        the traffic. Once someone moves traffic back, it gets no requests and
        so logs no more errors.
    staged: ``default`` serves ``v1`` at 100%, with ``v2-ok`` (healthy,
        warmup enabled) and ``v3-broken`` (fails at import) deployed without
        traffic.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import random
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any

from google.cloud.appengine_admin_v1 import types as ae

from deployconsole.emulator import admin_ops, world
from deployconsole.emulator.behaviours import PYTHON27
from deployconsole.emulator.requestlogs import RequestRecord, build_entries, zone
from deployconsole.emulator.state import EmulatorState

log = logging.getLogger("deployconsole.emulator.scenario")

SCENARIOS = ("bad-push", "staged")

# Seconds between ticks of the background thread.
TICK = 0.1
# Seconds over which a version's request rate is averaged for scaling.
RATE_WINDOW = 10.0
# App Engine keeps an idle instance about 15 minutes; the demo would show
# nothing in that time, so instances may go after a minute.
MIN_INSTANCE_LIFETIME = 60.0
# Below this many requests/s a version scales to zero.
IDLE_RATE = 0.02
# App Engine's default target_throughput_utilization.
TARGET_UTILIZATION = 0.6


@dataclass
class ScenarioOptions:
    name: str = "bad-push"
    seed: int = 0
    # Requests per second across the whole project.
    rate: float = 20.0
    # bad-push: seconds after start when the broken version takes traffic.
    bad_push_at: float = 30.0


class ScenarioEngine:
    """Generates one project's traffic and incidents; see the module doc."""

    def __init__(self, state: EmulatorState, options: ScenarioOptions) -> None:
        if options.name not in SCENARIOS:
            raise ValueError(
                f"unknown scenario {options.name!r}; expected one of "
                + ", ".join(SCENARIOS)
            )
        if not math.isfinite(options.rate) or options.rate < 0:
            raise ValueError(f"rate must be >= 0 requests/s, not {options.rate}")
        if not math.isfinite(options.bad_push_at) or options.bad_push_at < 0:
            raise ValueError(
                f"bad-push-at must be >= 0 seconds, not {options.bad_push_at}"
            )
        self.state = state
        self.options = options
        self.world = world.WORLDS[options.name]
        # The version the bad push deployed, once it has happened.
        self.bad_push_version: str | None = None
        self._rng = random.Random(options.seed)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._zone = zone(state.config.location_id)
        self._started_at: float | None = None
        self._last_tick = 0.0
        self._next_arrival = 0.0
        self._pushed = options.name != "bad-push"
        # (end time, sequence, record) of requests still being served.
        self._in_flight: list[tuple[float, int, RequestRecord]] = []
        self._sequence = itertools.count()
        self._arrivals: Counter[tuple[str, str]] = Counter()
        self._instance_arrivals: Counter[str] = Counter()
        self._rates: dict[tuple[str, str], float] = {}
        self._latencies: dict[tuple[str, str], float] = {}

    # -- lifecycle -------------------------------------------------------------

    def populate(self) -> None:
        """Deploy the scenario's world; call once, before serving."""
        with self._lock:
            world.populate(self.state, self.world, self._rng)
        log.info(
            "Scenario %s populated project %s with %d versions.",
            self.options.name,
            self.state.project_id,
            len(self.world.versions),
        )

    def start(self) -> None:
        """Start traffic on a background thread, on the state's clock."""
        if self._thread is not None:
            return
        with self._lock:
            self._begin(self.state.clock.now())
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, name="scenario-traffic", daemon=True
        )
        self._thread.start()
        log.info(
            "Scenario %s started: %.1f requests/s, seed %d.",
            self.options.name,
            self.options.rate,
            self.options.seed,
        )

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(TICK):
            try:
                self.tick()
            except Exception:
                # One bad tick must not end the demo's traffic for good.
                log.exception("Scenario tick failed; traffic goes on.")

    def run_for(self, seconds: float, step: float = 0.1) -> int:
        """Advance the state's ManualClock by ``seconds`` in ``step``s,
        ticking after each; returns how many entries were written."""
        advance = getattr(self.state.clock, "advance", None)
        if advance is None:
            raise TypeError(
                "run_for() needs a ManualClock; the real clock moves by itself"
            )
        if step <= 0:
            raise ValueError(f"step must be > 0 seconds, not {step}")
        with self._lock:
            self._begin(self.state.clock.now())
        written = 0
        for _ in range(max(1, round(seconds / step))):
            advance(step)
            written += self.tick()
        return written

    def _begin(self, now: float) -> None:
        if self._started_at is None:
            self._started_at = now
            self._last_tick = now
            self._next_arrival = now + self._interarrival()

    def _interarrival(self) -> float:
        rate = self.options.rate
        return self._rng.expovariate(rate) if rate > 0 else math.inf

    # -- one tick ----------------------------------------------------------------

    def tick(self, now: float | None = None) -> int:
        """Serve every request due up to ``now``; returns entries written."""
        entries: list[Any] = []
        with self._lock:
            now = self.state.clock.now() if now is None else now
            self._begin(now)
            assert self._started_at is not None
            push_at = self._started_at + self.options.bad_push_at
            while self._next_arrival <= now:
                arrival = self._next_arrival
                if not self._pushed and arrival >= push_at:
                    self._bad_push(arrival)
                self._one_request(arrival)
                self._next_arrival = arrival + self._interarrival()
            if not self._pushed and now >= push_at:
                self._bad_push(now)
            while self._in_flight and self._in_flight[0][0] <= now:
                _, _, record = heapq.heappop(self._in_flight)
                entries.extend(build_entries(self.state.project_id, self._zone, record))
            self._scale(now)
        if entries and self.state.logs is not None:
            self.state.logs.write(entries)
        return len(entries)

    def _one_request(self, arrival: float) -> None:
        service = self._pick_service()
        if service is None:
            return
        try:
            split = self.state.split_of(service)
        except KeyError:
            return
        version = _pick(split, self._rng)
        if version is None:
            return
        record = world.serve(self.state, service, version, arrival, self._rng)
        if record is None:
            log.warning(
                "Split of service %s names version %s, which does not exist.",
                service,
                version,
            )
            return
        heapq.heappush(self._in_flight, (record.end, next(self._sequence), record))
        key = (service, version)
        self._arrivals[key] += 1
        self._instance_arrivals[record.instance_id] += 1
        previous = self._latencies.get(key, record.latency)
        self._latencies[key] = previous * 0.9 + record.latency * 0.1

    def _pick_service(self) -> str | None:
        with self.state.lock:
            services = [
                service_id
                for service_id, service in self.state.services.items()
                if service.split.allocations
            ]
        weights = {
            service_id: self.world.service_weights.get(service_id, 0.1)
            for service_id in services
        }
        return _pick(weights, self._rng)

    def _bad_push(self, when: float) -> None:
        self._pushed = True
        spec = world.bad_push_spec(when)
        try:
            world.deploy(self.state, spec)
            admin_ops.set_split(
                self.state, spec.service, {spec.version: 1.0}, principal=spec.created_by
            )
        except admin_ops.AdminError as exc:
            log.error("Bad push of %s/%s refused: %s", spec.service, spec.version, exc)
            return
        self.bad_push_version = spec.version
        log.info(
            "Bad push: %s deployed version %s of service %s and gave it all traffic.",
            spec.created_by,
            spec.version,
            spec.service,
        )

    # -- instances ---------------------------------------------------------------

    def _scale(self, now: float) -> None:
        elapsed = now - self._last_tick
        self._last_tick = now
        if elapsed <= 0:
            return
        decay = 1.0 - math.exp(-elapsed / RATE_WINDOW)
        with self.state.lock:
            keys = [
                (service_id, version_id)
                for service_id, versions in self.state.versions.items()
                for version_id in versions
            ]
            for key in keys:
                observed = self._arrivals.get(key, 0) / elapsed
                rate = self._rates.get(key, 0.0)
                self._rates[key] = rate + (observed - rate) * decay
                self._scale_version(key, now)
                for instance in self.state.instances.get(key, {}).values():
                    raw = ae.Instance.pb(instance)
                    seen = self._instance_arrivals.get(instance.id, 0) / elapsed
                    raw.qps = raw.qps + (seen - raw.qps) * decay
            for gone in set(self._rates) - set(keys):
                del self._rates[gone]
        self._arrivals.clear()
        self._instance_arrivals.clear()

    def _scale_version(self, key: tuple[str, str], now: float) -> None:
        service_id, version_id = key
        version = self.state.versions[service_id][version_id]
        if version.serving_status == world.STOPPED:
            return
        raw = ae.Version.pb(version)
        instances = self.state.instances.get(key, {})
        scaling = raw.WhichOneof("scaling")
        if scaling == "manual_scaling":
            # Resident instances come back when they go, as App Engine
            # restarts them; extra ones (a warmup request) go.
            wanted = raw.manual_scaling.instances
            for _ in range(wanted - len(instances)):
                world.start_instance(
                    self.state, service_id, version_id, now, self._rng, resident=True
                )
            for extra in list(instances)[wanted:]:
                world.stop_instance(self.state, service_id, version_id, extra)
            return
        behaviour = world.behaviour_of(self.state, service_id, version_id)
        if not behaviour.serves_warmup and version.runtime != PYTHON27:
            return
        rate = self._rates.get(key, 0.0)
        latency = self._latencies.get(key, behaviour.median_latency)
        per_instance = TARGET_UTILIZATION * (
            raw.automatic_scaling.max_concurrent_requests or 10
        )
        wanted = math.ceil(rate * latency / per_instance) if rate > IDLE_RATE else 0
        if len(instances) < wanted:
            for _ in range(wanted - len(instances)):
                world.start_instance(self.state, service_id, version_id, now, self._rng)
        elif len(instances) > wanted:
            idle = [
                instance
                for instance in instances.values()
                if now - _started(instance) >= MIN_INSTANCE_LIFETIME
            ]
            if idle:
                quietest = min(idle, key=lambda instance: instance.qps)
                world.stop_instance(self.state, service_id, version_id, quietest.id)


def _started(instance: ae.Instance) -> float:
    return float(ae.Instance.pb(instance).start_time.ToNanoseconds()) / 1e9


def _pick(weights: dict[str, float], rng: random.Random) -> str | None:
    """A key drawn in proportion to its weight (dict order breaks ties)."""
    total = sum(weights.values())
    if total <= 0:
        return None
    roll = rng.random() * total
    chosen = None
    for key, weight in weights.items():
        chosen = key
        if roll < weight:
            break
        roll -= weight
    return chosen
