"""The emulated project: its services and versions per scenario, their
instances, and serving one request on a version.

Versions are deployed and splits set only through ``admin_ops``, as
``gcloud app deploy`` and the web console would, so the audit log records
them. Instances are this module's to start and stop: on App Engine the
platform, not the admin API, scales them.
"""

from __future__ import annotations

import calendar
import logging
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass

from google.cloud.appengine_admin_v1 import types as ae

from deployconsole.emulator import admin_ops
from deployconsole.emulator.behaviours import PYTHON27, Behaviour, decide
from deployconsole.emulator.behaviours import choose_route as _choose_route
from deployconsole.emulator.requestlogs import RequestRecord
from deployconsole.emulator.state import EmulatorState

log = logging.getLogger("deployconsole.emulator.world")

PY3 = "python311"
WARMUP = ae.InboundServiceType.INBOUND_SERVICE_WARMUP
STOPPED = ae.ServingStatus.STOPPED

MARIA = "maria.garcia@example.com"
CHEN = "chen.wei@example.com"
SAM = "sam.okafor@example.com"
CI_BOT = "ci-deployer@deployconsole-demo.iam.gserviceaccount.com"
# The developer whose push goes wrong in the bad-push scenario.
BAD_PUSHER = "alex.kim@example.com"

_USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like "
    "Gecko) Chrome/130.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, "
    "like Gecko) Version/17.6 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
    "python-requests/2.32.3",
    "AppEngine-Google; (+http://code.google.com/appengine)",
)
# Documentation address ranges: realistic, and nobody's real address.
_CLIENT_NETWORKS = ("203.0.113", "198.51.100", "192.0.2")
_INFO_LINES = (
    "Rendering page for anonymous user",
    "Cache hit for catalog page",
    "Loaded 24 products from datastore",
    "Session refreshed for returning visitor",
    "",
)


@dataclass(frozen=True)
class VersionSpec:
    """One version as deployed in the emulated world."""

    service: str
    version: str
    runtime: str
    behaviour: Behaviour
    created_by: str
    env: str = "standard"
    # automatic, manual or basic.
    scaling: str = "automatic"
    # Manual scaling: how many resident instances.
    instances: int = 0
    warmup: bool = False


@dataclass(frozen=True)
class World:
    versions: tuple[VersionSpec, ...]
    # Split to set once every version is deployed (service -> allocations).
    splits: Mapping[str, Mapping[str, float]]
    # Share of the project's requests each service receives.
    service_weights: Mapping[str, float]


def _py27(
    service: str,
    version: str,
    behaviour: Behaviour,
    by: str,
    *,
    scaling: str = "automatic",
    instances: int = 0,
    warmup: bool = False,
) -> VersionSpec:
    return VersionSpec(
        service, version, PYTHON27, behaviour, by,
        scaling=scaling, instances=instances, warmup=warmup,
    )


def _py3(
    service: str, version: str, behaviour: Behaviour, by: str, *, warmup: bool = False
) -> VersionSpec:
    return VersionSpec(service, version, PY3, behaviour, by, warmup=warmup)


_API = (
    _py3("api", "20251020t120000", Behaviour.healthy(0.03), CHEN, warmup=True),
    _py3("api", "20251103t101500", Behaviour.flaky(0.04), CHEN, warmup=True),
    VersionSpec(
        "api", "flex-20250610t0930", "python", Behaviour.healthy(0.05), SAM,
        env="flex", scaling="manual", instances=1,
    ),
)
_WORKER = (
    _py27("worker", "20251001t090000", Behaviour.healthy(0.4), SAM,
          scaling="manual", instances=1),
    # Deployed with a vendored library missing; it never had traffic.
    _py27("worker", "20251002t174500", Behaviour.fails_at_import(), SAM,
          scaling="manual", instances=1),
    _py27("worker", "20251103t101500", Behaviour.slow(2.8), CI_BOT,
          scaling="manual", instances=2),
)
_SHARED_SPLITS = {
    "api": {"20251020t120000": 0.3, "20251103t101500": 0.7},
    "worker": {"20251103t101500": 1.0},
}
_WEIGHTS = {"default": 0.6, "api": 0.3, "worker": 0.1}

BAD_PUSH_WORLD = World(
    versions=(
        _py27("default", "20251014t091500", Behaviour.healthy(), MARIA, warmup=True),
        _py27("default", "20251117t163045", Behaviour.flaky(0.01), CI_BOT,
              warmup=True),
        _py3("default", "20251119t110000-py3", Behaviour.healthy(0.035), MARIA,
             warmup=True),
        *_API,
        *_WORKER,
    ),
    splits={"default": {"20251117t163045": 1.0}, **_SHARED_SPLITS},
    service_weights=_WEIGHTS,
)
STAGED_WORLD = World(
    versions=(
        _py3("default", "v1", Behaviour.healthy(), MARIA, warmup=True),
        _py3("default", "v2-ok", Behaviour.healthy(0.04), MARIA, warmup=True),
        _py3("default", "v3-broken", Behaviour.fails_at_import(), MARIA, warmup=True),
        *_API,
        *_WORKER,
    ),
    splits={"default": {"v1": 1.0}, **_SHARED_SPLITS},
    service_weights=_WEIGHTS,
)
WORLDS = {"bad-push": BAD_PUSH_WORLD, "staged": STAGED_WORLD}


def bad_push_spec(now: float) -> VersionSpec:
    """The broken python3 version pushed in the bad-push scenario."""
    version = time.strftime("%Y%m%dt%H%M", time.gmtime(now)) + "-py3"
    return _py3("default", version, Behaviour.fails_at_import(), BAD_PUSHER,
                warmup=True)


def to_version(spec: VersionSpec) -> ae.Version:
    version = ae.Version(
        id=spec.version,
        runtime=spec.runtime,
        env=spec.env,
        instance_class="F1" if spec.scaling == "automatic" else "B2",
    )
    if spec.runtime == PYTHON27:
        version.threadsafe = True
        version.runtime_api_version = "1"
        version.libraries = [ae.Library(name="webapp2", version="2.5.2")]
    else:
        version.entrypoint = ae.Entrypoint(shell="gunicorn -b :$PORT main:app")
    if spec.env == "flex":
        version.instance_class = ""
    if spec.warmup:
        version.inbound_services = [WARMUP]  # type: ignore[list-item]
    if spec.scaling == "manual":
        version.manual_scaling = ae.ManualScaling(instances=spec.instances)
    elif spec.scaling == "basic":
        version.basic_scaling = ae.BasicScaling(max_instances=spec.instances or 1)
    else:
        version.automatic_scaling = ae.AutomaticScaling(max_concurrent_requests=10)
    # gcloud names versions after their deploy time; show that time.
    stamp = spec.version[:15]
    try:
        when = calendar.timegm(time.strptime(stamp, "%Y%m%dt%H%M%S"))
    except ValueError:
        when = None
    if when is not None:
        admin_stamp = admin_ops.timestamp(float(when))
        ae.Version.pb(version).create_time.CopyFrom(admin_stamp)
    return version


def deploy(state: EmulatorState, spec: VersionSpec) -> ae.Version:
    """Deploy ``spec`` without moving traffic (``--no-promote``)."""
    state.behaviours[(spec.service, spec.version)] = spec.behaviour
    return admin_ops.create_version(
        state, spec.service, to_version(spec), principal=spec.created_by
    )


def populate(state: EmulatorState, world: World, rng: random.Random) -> None:
    """Deploy every version of ``world``, set its splits, start resident
    instances."""
    for spec in world.versions:
        deploy(state, spec)
    for service_id, split in world.splits.items():
        if dict(state.split_of(service_id)) != dict(split):
            promoter = max(split, key=lambda version: split[version])
            by = next(
                spec.created_by
                for spec in world.versions
                if spec.service == service_id and spec.version == promoter
            )
            admin_ops.set_split(state, service_id, dict(split), principal=by)
    now = state.clock.now()
    for spec in world.versions:
        for _ in range(spec.instances if spec.scaling == "manual" else 0):
            start_instance(state, spec.service, spec.version, now, rng, resident=True)


# -- instances -----------------------------------------------------------------


def _new_instance_id(rng: random.Random) -> str:
    # App Engine instance ids: "00" and a long lowercase hex string.
    return "00" + f"{rng.getrandbits(376):094x}"


def start_instance(
    state: EmulatorState,
    service: str,
    version: str,
    now: float,
    rng: random.Random,
    *,
    resident: bool = False,
) -> ae.Instance:
    instance_id = _new_instance_id(rng)
    instance = ae.Instance(
        name=f"{state.version_name(service, version)}/instances/{instance_id}",
        id=instance_id,
        app_engine_release="1.9.71",
        availability=(
            ae.Instance.Availability.RESIDENT
            if resident
            else ae.Instance.Availability.DYNAMIC
        ),
        memory_usage=rng.randint(48, 160) * 1024 * 1024,
    )
    ae.Instance.pb(instance).start_time.CopyFrom(admin_ops.timestamp(now))
    with state.lock:
        state.instances.setdefault((service, version), {})[instance_id] = instance
    log.debug("Instance %s of %s/%s started.", instance_id[:12], service, version)
    return instance


def stop_instance(state: EmulatorState, service: str, version: str, iid: str) -> None:
    with state.lock:
        state.instances.get((service, version), {}).pop(iid, None)
    log.debug("Instance %s of %s/%s shut down.", iid[:12], service, version)


def behaviour_of(state: EmulatorState, service: str, version: str) -> Behaviour:
    behaviour = state.behaviours.get((service, version))
    return behaviour if isinstance(behaviour, Behaviour) else Behaviour.healthy()


def serve(
    state: EmulatorState,
    service: str,
    version_id: str,
    now: float,
    rng: random.Random,
    *,
    method: str | None = None,
    path: str | None = None,
    warmup: bool = False,
) -> RequestRecord | None:
    """Serve one request on a version; None if the version does not exist.

    Picks (or starts) an instance and counts the request on it. ``method``
    and ``path`` None let the behaviour choose a route. A python3 version
    that fails at import never keeps an instance: its worker dies at boot.
    """
    with state.lock:
        version = state.versions.get(service, {}).get(version_id)
        if version is None:
            return None
        runtime = version.runtime
        stopped = version.serving_status == STOPPED
        behaviour = behaviour_of(state, service, version_id)
        instance: ae.Instance | None = None
        if stopped:
            # The front end answers: no instance is involved.
            loading, instance_id = False, ""
        elif behaviour.serves_warmup or runtime == PYTHON27:
            instance = _instance_for(state, service, version_id, now, rng, warmup)
            loading, instance_id = instance.requests == 0, instance.id
        else:
            loading, instance_id = True, _new_instance_id(rng)

        if stopped:
            outcome_status, latency, failure = 503, 0.002 + rng.random() * 0.003, None
        else:
            outcome = decide(behaviour, runtime, rng, loading=loading, warmup=warmup)
            outcome_status, latency, failure = (
                outcome.status, outcome.latency, outcome.failure
            )
        route = _choose_route(service, failure, runtime, rng)
        if instance is not None:
            _count(instance, outcome_status, latency)

    return RequestRecord(
        service=service,
        version=version_id,
        runtime=runtime,
        method=method or ("GET" if warmup else route.method),
        path=path or ("/_ah/warmup" if warmup else route.path),
        start=now,
        latency=latency,
        status=outcome_status,
        instance_id=instance_id,
        loading=loading,
        failure=failure,
        values=route.values,
        request_bits=rng.getrandbits(48),
        trace_id=f"{rng.getrandbits(128):032x}",
        span_id=rng.getrandbits(63),
        ip=f"{rng.choice(_CLIENT_NETWORKS)}.{rng.randint(1, 254)}",
        user_agent=rng.choice(_USER_AGENTS),
        response_size=rng.randint(300, 9000) if outcome_status < 500 else 1900,
        info_line=rng.choice(_INFO_LINES),
        stderr_parts=rng.choice((1, 1, 2, 3)),
        stderr_error=rng.random() < 0.3,
        pid=rng.randint(8, 40),
    )


def _instance_for(
    state: EmulatorState,
    service: str,
    version: str,
    now: float,
    rng: random.Random,
    warmup: bool,
) -> ae.Instance:
    """A running instance for a request; a warmup request starts a new one."""
    instances = state.instances.get((service, version), {})
    if instances and not warmup:
        return rng.choice(list(instances.values()))
    return start_instance(state, service, version, now, rng)


def _count(instance: ae.Instance, status: int, latency: float) -> None:
    raw = ae.Instance.pb(instance)
    millis = int(latency * 1000)
    raw.average_latency = (
        millis if raw.requests == 0 else int(raw.average_latency * 0.9 + millis * 0.1)
    )
    raw.requests += 1
    if status >= 500:
        raw.errors += 1
