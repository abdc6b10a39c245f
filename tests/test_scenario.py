"""The scenario engine: world, traffic by the live split, the bad push,
instances that follow load, realistic logs, and seeded determinism."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from google.cloud.appengine_admin_v1 import types as ae
from google.cloud.appengine_logging_v1.types import RequestLog

from deployconsole.emulator import admin_ops, requestlogs, tracebacks_corpus
from deployconsole.emulator.faults import Faults
from deployconsole.emulator.scenario import ScenarioEngine, ScenarioOptions
from deployconsole.emulator.state import EmulatorConfig, EmulatorState, ManualClock

RawRequestLog: Any = RequestLog.pb()
IMPORT_ERROR = (
    "DistributionNotFound: The 'google-api-core' distribution was not found "
    "and is required by the application"
)
OLD_DEFAULT = "20251117t163045"


class RecordingStore:
    """Stands in for the log store: keeps each write as it came."""

    def __init__(self) -> None:
        self.writes: list[list[Any]] = []

    def write(self, entries: Sequence[Any]) -> None:
        self.writes.append(list(entries))

    def close(self) -> None:
        pass

    @property
    def entries(self) -> list[Any]:
        return [entry for batch in self.writes for entry in batch]


def make_engine(
    name: str = "bad-push", seed: int = 7, rate: float = 40.0, bad_push_at: float = 10.0
) -> tuple[EmulatorState, ScenarioEngine, RecordingStore]:
    state = EmulatorState(
        config=EmulatorConfig(), clock=ManualClock(), faults=Faults(seed=seed)
    )
    state.http_base = "http://127.0.0.1:18080"
    store = RecordingStore()
    state.logs = store  # type: ignore[assignment]
    engine = ScenarioEngine(
        state, ScenarioOptions(name=name, seed=seed, rate=rate, bad_push_at=bad_push_at)
    )
    engine.populate()
    return state, engine, store


def request_logs(entries: list[Any]) -> list[tuple[Any, Any]]:
    """(entry, unpacked RequestLog) of each request log entry."""
    found = []
    for entry in entries:
        if entry.log_name.endswith(requestlogs.REQUEST_LOG):
            payload = RawRequestLog()
            entry.proto_payload.Unpack(payload)
            found.append((entry, payload))
    return found


def seconds(stamp: Any) -> float:
    return float(stamp.ToNanoseconds()) / 1e9


def test_same_seed_and_clock_give_identical_entries() -> None:
    _, first, first_store = make_engine(seed=11)
    _, second, second_store = make_engine(seed=11)
    first.run_for(15.0)
    second.run_for(15.0)

    first_bytes = [entry.SerializeToString() for entry in first_store.entries]
    second_bytes = [entry.SerializeToString() for entry in second_store.entries]
    assert len(first_bytes) > 500
    assert first_bytes == second_bytes
    assert [len(batch) for batch in first_store.writes] == [
        len(batch) for batch in second_store.writes
    ]

    _, other, other_store = make_engine(seed=12)
    other.run_for(15.0)
    other_bytes = [entry.SerializeToString() for entry in other_store.entries]
    assert other_bytes != first_bytes


def test_world_has_the_services_runtimes_and_scalings_the_console_needs() -> None:
    state, _, _ = make_engine(name="staged")
    assert list(state.services) == ["default", "api", "worker"]
    versions = [v for by_id in state.versions.values() for v in by_id.values()]
    runtimes = {version.runtime for version in versions}
    assert {"python27", "python311"} <= runtimes
    scalings = {ae.Version.pb(v).WhichOneof("scaling") for v in versions}
    assert {"automatic_scaling", "manual_scaling"} <= scalings
    assert any(version.env == "flex" for version in versions)
    assert all("@" in version.created_by for version in versions)
    assert all(version.version_url.startswith(state.http_base) for version in versions)

    manual = [v for v in versions if ae.Version.pb(v).HasField("manual_scaling")]
    for version in manual:
        service_id = version.name.split("/")[3]
        running = state.instances[(service_id, version.id)]
        assert len(running) == version.manual_scaling.instances


def test_staged_scenario_serves_only_v1() -> None:
    state, engine, store = make_engine(name="staged", rate=60.0)
    assert state.split_of("default") == {"v1": 1.0}
    default = state.versions["default"]
    assert {"v1", "v2-ok", "v3-broken"} <= set(default)
    warmup = ae.InboundServiceType.INBOUND_SERVICE_WARMUP
    assert warmup in default["v2-ok"].inbound_services

    engine.run_for(20.0)
    logs = request_logs(store.entries)
    served = {
        payload.version_id for _, payload in logs if payload.module_id == ""
    }
    assert served == {"v1"}
    assert all(payload.status == 200 for _, payload in logs if payload.module_id == "")
    assert engine.bad_push_version is None


def test_bad_push_happens_at_bad_push_at_and_stops_when_traffic_moves_back() -> None:
    state, engine, store = make_engine(rate=40.0, bad_push_at=10.0)
    start = state.clock.now()
    engine.run_for(9.9)
    assert engine.bad_push_version is None
    assert state.split_of("default") == {OLD_DEFAULT: 1.0}

    engine.run_for(0.2)
    bad = engine.bad_push_version
    assert bad is not None and bad.endswith("-py3")
    assert state.split_of("default") == {bad: 1.0}
    assert state.versions["default"][bad].created_by == "alex.kim@example.com"

    engine.run_for(10.0)
    bad_logs = [
        (entry, payload)
        for entry, payload in request_logs(store.entries)
        if payload.version_id == bad
    ]
    assert len(bad_logs) > 50
    assert all(payload.status == 500 for _, payload in bad_logs)
    assert min(seconds(payload.start_time) for _, payload in bad_logs) >= start + 10.0
    stderr = [
        entry
        for entry in store.entries
        if entry.log_name.endswith(requestlogs.STDERR_LOG)
        and entry.resource.labels["version_id"] == bad
    ]
    tracebacks = [entry for entry in stderr if IMPORT_ERROR in entry.text_payload]
    assert len(tracebacks) == len(bad_logs)
    # Each traceback comes from the instance that served the failed request.
    request_instances = {payload.instance_id for _, payload in bad_logs}
    assert {entry.labels["clone_id"] for entry in tracebacks} == request_instances

    admin_ops.set_split(
        state, "default", {OLD_DEFAULT: 1.0}, principal="oncall@example.com"
    )
    moved_back = state.clock.now()
    engine.run_for(20.0)
    late = [
        payload
        for _, payload in request_logs(store.entries)
        if payload.version_id == bad and seconds(payload.start_time) > moved_back
    ]
    assert late == []
    recovered = [
        payload
        for _, payload in request_logs(store.entries)
        if payload.module_id == "" and seconds(payload.start_time) > moved_back
    ]
    assert recovered and {p.version_id for p in recovered} == {OLD_DEFAULT}


def test_traffic_follows_the_live_split() -> None:
    state, engine, store = make_engine(name="staged", rate=100.0)
    older, newer = "20251020t120000", "20251103t101500"
    admin_ops.set_split(state, "api", {older: 0.25, newer: 0.75})
    engine.run_for(60.0)
    api = [p for _, p in request_logs(store.entries) if p.module_id == "api"]
    share = sum(1 for p in api if p.version_id == newer) / len(api)
    assert len(api) > 1000
    assert share == pytest.approx(0.75, abs=0.05)

    admin_ops.set_split(state, "api", {older: 1.0})
    changed = state.clock.now()
    engine.run_for(10.0)
    after = [
        p
        for _, p in request_logs(store.entries)
        if p.module_id == "api" and seconds(p.start_time) > changed
    ]
    assert after and {p.version_id for p in after} == {older}


def test_instances_start_with_load_and_go_when_it_leaves() -> None:
    state, engine, store = make_engine(rate=40.0, bad_push_at=5.0)
    key = ("default", OLD_DEFAULT)
    engine.run_for(4.0)
    assert len(state.instances.get(key, {})) >= 1
    loading = [p for _, p in request_logs(store.entries) if p.was_loading_request]
    assert loading, "the first request on a new instance is a loading request"

    engine.run_for(150.0)
    assert state.instances.get(key, {}) == {}
    # The python3 version that fails at import never keeps an instance.
    assert state.instances.get(("default", engine.bad_push_version or ""), {}) == {}


def test_python27_tracebacks_sit_in_request_log_lines() -> None:
    _, engine, store = make_engine(name="staged", rate=100.0)
    engine.run_for(60.0)
    failed = [
        (entry, payload)
        for entry, payload in request_logs(store.entries)
        if payload.status == 500 and payload.version_id == "20251103t101500"
    ]
    worker_or_api = {payload.module_id for _, payload in failed}
    assert worker_or_api == {"api"}
    py3_stderr = [
        e for e in store.entries if e.log_name.endswith(requestlogs.STDERR_LOG)
    ]
    assert any("Traceback (most recent call" in e.text_payload for e in py3_stderr)

    state2, engine2, store2 = make_engine(rate=150.0, bad_push_at=1000.0)
    engine2.run_for(30.0)
    py27_failed = [
        payload
        for _, payload in request_logs(store2.entries)
        if payload.version_id == OLD_DEFAULT and payload.status == 500
    ]
    assert py27_failed
    for payload in py27_failed:
        messages = [line.log_message for line in payload.line]
        assert any("Traceback (most recent call last):" in m for m in messages)
        assert any(
            f"/base/data/home/apps/s~{state2.project_id}/{OLD_DEFAULT}." in m
            for m in messages
        )


def test_split_traceback_cuts_where_a_log_agent_cuts() -> None:
    text = tracebacks_corpus.render(tracebacks_corpus.PY3_DB_ERROR, asctime="t")
    one, two, three = requestlogs.split_traceback(text, 3)
    assert one == "[t] ERROR in app: Exception on /orders/o-5521/pay [POST]"
    assert two.startswith("Traceback") and two.endswith("KeyError: 'o-5521'")
    assert three.startswith("During handling of the above exception")
    assert three.endswith("sqlite3.OperationalError: database is locked")
    assert requestlogs.split_traceback(text, 1) == [text]


def test_bad_options_are_refused_in_plain_words() -> None:
    state = EmulatorState(config=EmulatorConfig(), clock=ManualClock(), faults=Faults())
    with pytest.raises(ValueError, match="unknown scenario 'nope'"):
        ScenarioEngine(state, ScenarioOptions(name="nope"))
    with pytest.raises(ValueError, match="rate must be >= 0"):
        ScenarioEngine(state, ScenarioOptions(rate=-1))


def test_run_for_needs_a_manual_clock() -> None:
    from deployconsole.emulator.state import RealClock

    state = EmulatorState(config=EmulatorConfig(), clock=RealClock(), faults=Faults())
    engine = ScenarioEngine(state, ScenarioOptions())
    with pytest.raises(TypeError, match="ManualClock"):
        engine.run_for(1.0)


def test_official_clients_see_the_bad_push_on_the_real_clock() -> None:
    """The demo's path: background traffic, then the clients see the push."""
    import time

    from deployconsole.emulator.server import Emulator, EmulatorOptions
    from deployconsole.gcp import channel

    options = EmulatorOptions(
        scenario=ScenarioOptions(name="bad-push", seed=5, rate=60.0, bad_push_at=0.5)
    )
    with Emulator(options) as emulator:
        endpoint = channel.Endpoint(emulator.state.project_id, emulator.address)
        services = channel.services_client(endpoint)
        name = emulator.state.service_name("default")
        deadline = time.monotonic() + 20.0
        split: dict[str, float] = {}
        while time.monotonic() < deadline:
            service = services.get_service(request=ae.GetServiceRequest(name=name))
            split = dict(service.split.allocations)
            if OLD_DEFAULT not in split:
                break
            time.sleep(0.05)
        assert list(split) == [emulator.scenario.bad_push_version]
        bad = next(iter(split))

        logging = channel.logging_client(endpoint)
        project = f"projects/{emulator.state.project_id}"
        failed: list[Any] = []
        tracebacks: list[Any] = []
        while time.monotonic() < deadline and not (failed and tracebacks):
            failed = list(
                logging.list_log_entries(
                    request={
                        "resource_names": [project],
                        "filter": f'resource.labels.version_id="{bad}" '
                        "AND protoPayload.status>=500",
                    }
                )
            )
            tracebacks = list(
                logging.list_log_entries(
                    request={
                        "resource_names": [project],
                        "filter": f'resource.labels.version_id="{bad}" '
                        'AND textPayload:"DistributionNotFound"',
                    }
                )
            )
            time.sleep(0.1)
        assert failed, "no 500 request logs for the bad version within 20 s"
        assert tracebacks, "no import traceback for the bad version within 20 s"
        assert IMPORT_ERROR in tracebacks[0].text_payload


def test_python27_import_failure_logs_the_traceback_in_line() -> None:
    state, engine, store = make_engine(name="staged", rate=100.0)
    broken = "20251002t174500"
    admin_ops.set_split(state, "worker", {broken: 1.0})
    engine.run_for(20.0)
    failed = [
        payload
        for entry, payload in request_logs(store.entries)
        if payload.version_id == broken and entry.severity == requestlogs.ERROR
    ]
    served = [p for _, p in request_logs(store.entries) if p.version_id == broken]
    assert served and len(failed) == len(served)
    for payload in failed:
        assert payload.status == 500
        text = payload.line[0].log_message
        # python27's logging prints the bare class name.
        assert text.startswith("\nTraceback (most recent call last):")
        assert text.endswith("\n" + IMPORT_ERROR)
        assert f"{state.project_id}/{broken}." in text
