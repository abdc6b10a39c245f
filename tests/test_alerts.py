"""The alert rules: a 5xx ratio over a sliding window, a new error group in
a version with traffic, each fired once per episode; and the demo's bad
push seen through the emulator, the official client and the pipeline."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from deployconsole.core.alerts import (
    ERROR_RATIO,
    NEW_ERROR_GROUP,
    Alert,
    AlertRules,
    AlertSettings,
)
from deployconsole.core.health import HealthWindows
from deployconsole.core.ingest import IngestPipeline
from deployconsole.emulator import admin_ops
from deployconsole.emulator.filters import compile_filter
from deployconsole.emulator.scenario import ScenarioOptions
from deployconsole.emulator.server import Emulator, EmulatorOptions
from deployconsole.emulator.state import DEFAULT_PROJECT, ManualClock
from deployconsole.gcp.channel import Endpoint
from deployconsole.gcp.logs import TailSession
from deployconsole.gcp.tail_filter import TailScope, compose_filter

T0 = 1_764_000_000.0
SETTINGS = AlertSettings(
    error_ratio=0.1, clear_ratio=0.02, window_seconds=60, min_requests=20
)


def traffic(
    health: HealthWindows, second: float, ok: int, failed: int, version: str = "v2"
) -> None:
    for _ in range(ok):
        health.add("default", version, T0 + second, 200, 0.1)
    for _ in range(failed):
        health.add("default", version, T0 + second, 500, 0.1)


def ratio_alerts(
    rules: AlertRules, health: HealthWindows, second: float
) -> list[Alert]:
    return rules.check_ratios(health, T0 + second)


def test_ratio_alert_fires_once_per_episode() -> None:
    rules, health = AlertRules(SETTINGS), HealthWindows()
    fired: list[Alert] = []
    for second in range(30):
        traffic(health, second, ok=1, failed=1)
        fired += ratio_alerts(rules, health, second)
    (alert,) = fired
    assert alert.kind == ERROR_RATIO
    assert (alert.service, alert.version) == ("default", "v2")
    # Fired as soon as the window held enough requests.
    assert alert.requests == 20 and alert.errors == 10 and alert.ratio == 0.5
    assert alert.at == T0 + 9
    assert "50% of 20 requests failed with 5xx" in alert.message

    # Healthy again: the episode ends once the window's ratio is low enough.
    for second in range(30, 150):
        traffic(health, second, ok=2, failed=0)
        assert not ratio_alerts(rules, health, second)
    # A new episode fires again.
    for second in range(150, 170):
        traffic(health, second, ok=0, failed=2)
        fired += ratio_alerts(rules, health, second)
    assert len(fired) == 2 and fired[1].at > T0 + 150


def test_ratio_between_the_thresholds_neither_fires_nor_clears() -> None:
    rules, health = AlertRules(SETTINGS), HealthWindows()
    traffic(health, 0, ok=10, failed=10)
    assert ratio_alerts(rules, health, 0)
    # 5% is below the 10% that fires but above the 2% that clears.
    for second in range(61, 200):
        traffic(health, second, ok=19, failed=1)
        assert not ratio_alerts(rules, health, second)


def test_too_few_requests_say_nothing() -> None:
    rules, health = AlertRules(SETTINGS), HealthWindows()
    traffic(health, 0, ok=0, failed=19)
    assert not ratio_alerts(rules, health, 0)
    traffic(health, 1, ok=0, failed=1)
    assert ratio_alerts(rules, health, 1)


def test_only_versions_with_traffic_alert() -> None:
    rules, health = AlertRules(SETTINGS), HealthWindows()
    rules.set_traffic({"default": {"v1": 1.0, "v2": 0.0}})
    traffic(health, 0, ok=0, failed=30, version="v2")
    assert not ratio_alerts(rules, health, 0)
    # Once the split gives it traffic, it counts.
    rules.set_traffic({"default": {"v1": 0.5, "v2": 0.5}})
    (alert,) = ratio_alerts(rules, health, 1)
    assert alert.version == "v2"
    # A rollback ends the episode; the old errors still in the window do not
    # fire again when traffic comes back to the version later.
    rules.set_traffic({"default": {"v1": 1.0}})
    assert not ratio_alerts(rules, health, 2)
    traffic(health, 200, ok=40, failed=0, version="v2")
    rules.set_traffic({"default": {"v1": 0.5, "v2": 0.5}})
    assert not ratio_alerts(rules, health, 200)


def test_new_error_group_alerts_once_per_version_after_the_grace() -> None:
    rules, health = (
        AlertRules(AlertSettings(new_group_grace_seconds=10)),
        HealthWindows(),
    )
    traffic(health, 0, ok=5, failed=0, version="v1")
    traffic(health, 20, ok=5, failed=1, version="v2")

    def new_group(fingerprint: str, version: str, second: float) -> Alert | None:
        return rules.check_new_group(
            "default",
            version,
            fingerprint,
            "KeyError: 'sku'",
            T0 + second,
            health.window("default", version, 60, T0 + second),
        )

    # Seen while the console had only just started: the baseline.
    assert new_group("aaa", "v1", 0) is None
    assert new_group("aaa", "v1", 30) is None
    alert = new_group("bbb", "v2", 20)
    assert alert is not None and alert.kind == NEW_ERROR_GROUP
    assert (alert.version, alert.fingerprint) == ("v2", "bbb")
    assert alert.message == "New error in v2 of default: KeyError: 'sku'"
    assert new_group("bbb", "v2", 25) is None
    # An old group that shows up in another version is new there.
    assert new_group("aaa", "v2", 26) is not None
    # A version without traffic does not alert.
    assert new_group("ccc", "v9", 27) is None


def test_a_new_group_seen_before_the_split_is_known_still_alerts() -> None:
    # Right after a deploy the console's split is stale: the new version
    # looks trafficless when its first error arrives.
    rules = AlertRules(AlertSettings(new_group_grace_seconds=0))
    rules.set_traffic({"default": {"v1": 1.0}})
    assert rules.check_new_group("default", "v2", "f", "E", T0 + 1) is None
    rules.set_traffic({"default": {"v2": 1.0}})
    alert = rules.check_new_group("default", "v2", "f", "E", T0 + 2)
    assert alert is not None and alert.version == "v2"
    assert rules.check_new_group("default", "v2", "f", "E", T0 + 3) is None


def test_new_group_alerts_can_be_turned_off() -> None:
    rules = AlertRules(AlertSettings(new_group_alerts=False, new_group_grace_seconds=0))
    health = HealthWindows()
    traffic(health, 0, ok=5, failed=1)
    window = health.window("default", "v2", 60, T0)
    assert rules.check_new_group("default", "v2", "f", "E", T0, window) is None


@pytest.mark.parametrize(
    ("settings", "wrong"),
    [
        ({"error_ratio": 0.0}, "error_ratio"),
        ({"error_ratio": 1.5}, "error_ratio"),
        ({"clear_ratio": 0.5}, "clear_ratio"),
        ({"window_seconds": 0.5}, "window_seconds"),
        ({"min_requests": 0}, "min_requests"),
        ({"new_group_grace_seconds": -1}, "new_group_grace_seconds"),
    ],
)
def test_settings_refuse_thresholds_that_make_no_sense(
    settings: dict[str, float], wrong: str
) -> None:
    with pytest.raises(ValueError, match=wrong):
        AlertSettings(**settings)


# -- the demo's bad push, end to end --------------------------------------------


@pytest.fixture()
def bad_push() -> Iterator[Emulator]:
    options = EmulatorOptions(
        run_traffic=False, scenario=ScenarioOptions(rate=20.0, bad_push_at=20.0)
    )
    running = Emulator(options, clock=ManualClock()).start()
    try:
        yield running
    finally:
        assert running.state.logs is not None
        running.state.logs.close()
        running.stop()


def _expected_entries(emulator: Emulator, scope: TailScope) -> int:
    assert emulator.state.logs is not None
    predicate = compile_filter(compose_filter(scope))
    prefix = f"projects/{DEFAULT_PROJECT}/logs/"
    return sum(
        1
        for entry in emulator.state.logs.entries
        if entry.log_name.startswith(prefix) and predicate(entry)
    )


def _collect(
    pipeline: IngestPipeline, session: TailSession, wanted: int
) -> list[Alert]:
    """Drain as the GUI does until ``wanted`` entries have been delivered."""
    alerts: list[Alert] = []
    deadline = time.monotonic() + 30
    while session.stats().delivered < wanted:
        if time.monotonic() > deadline:
            pytest.fail(f"only {session.stats().delivered} of {wanted} entries came")
        pipeline.wait(0.1)
        alerts.extend(pipeline.drain().alerts)
    alerts.extend(pipeline.finish().alerts)
    return alerts


def test_alert_on_the_bad_push_scenario(bad_push: Emulator) -> None:
    scope = TailScope()
    pipeline = IngestPipeline()
    session = TailSession(
        Endpoint(DEFAULT_PROJECT, bad_push.address), scope, pipeline
    ).start()
    try:
        assert bad_push.state.logs is not None
        assert bad_push.state.logs.wait_for_sessions(1, 10)
        before = _expected_entries(bad_push, scope)
        healthy = dict(bad_push.state.split_of("default"))
        bad_push.scenario.run_for(60.0, step=0.5)
        bad = bad_push.scenario.bad_push_version
        assert bad is not None
        pipeline.set_traffic(
            {service: bad_push.state.split_of(service) for service in ("default",)}
        )
        alerts = _collect(
            pipeline, session, _expected_entries(bad_push, scope) - before
        )

        ratio = [a for a in alerts if a.kind == ERROR_RATIO and a.version == bad]
        assert len(ratio) == 1, "one episode, one alert"
        assert ratio[0].service == "default" and ratio[0].ratio > 0.5
        new = [a for a in alerts if a.kind == NEW_ERROR_GROUP and a.version == bad]
        assert any("DistributionNotFound" in a.headline for a in new)
        groups = {g.fingerprint: g for g in pipeline.groups()}
        assert any(
            bad in g.versions and g.first_version == bad for g in groups.values()
        )

        # Roll back: the bad version gets no more requests; its episode ends
        # and nothing fires again for it.
        admin_ops.set_split(bad_push.state, "default", healthy, principal="test")
        pipeline.set_traffic({"default": healthy})
        already = _expected_entries(bad_push, scope)
        bad_push.scenario.run_for(90.0, step=0.5)
        later = _collect(pipeline, session, _expected_entries(bad_push, scope) - before)
        assert already < _expected_entries(bad_push, scope)
        assert not [a for a in later if a.version == bad]
    finally:
        session.stop()
