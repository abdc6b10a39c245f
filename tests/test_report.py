"""The incident timeline and the DERP report, from values and end to end.

The last tests replay the emulator's ``bad-push`` scenario on a manual
clock (a broken python3 version takes all the traffic 30 s in), roll it
back with the CLI, and draft the report with ``deployconsole report``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timezone

import pytest
from test_rollout_support import IMPORT_ERROR, KEY_ERROR, version

from deployconsole.cli import main
from deployconsole.core.alerts import NEW_ERROR_GROUP, Alert
from deployconsole.core.groups import ErrorGroups
from deployconsole.core.history import Source, TrafficChange
from deployconsole.core.logentry import LogRecord, build_record
from deployconsole.core.report import Incident, draft_report, measure_impact
from deployconsole.core.rollout_store import StoredEvent
from deployconsole.core.split import ShardBy, Split
from deployconsole.core.timeline import Timeline, TimelineKind
from deployconsole.core.tracebacks import parse_tracebacks
from deployconsole.emulator.scenario import ScenarioOptions
from deployconsole.emulator.server import Emulator, EmulatorOptions
from deployconsole.emulator.state import EmulatorConfig, ManualClock

T0 = 1_764_000_000.0


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(T0 + seconds, timezone.utc)


def ip(**allocations: float) -> Split:
    return Split.of(allocations, ShardBy.IP)


def change(
    seconds: float, after: Split, before: Split | None, who: str, action: str
) -> TrafficChange:
    return TrafficChange(
        time=at(seconds), who=who, service_id="default", before=before,
        after=after, migrate=False, applied=True, outcome="succeeded",
        source=Source.BOTH, action=action,
    )


def request(seconds: float, version_id: str, status: int) -> LogRecord:
    return build_record(
        insert_id=f"r{seconds}", timestamp=T0 + seconds,
        log_name="projects/p/logs/appengine.googleapis.com%2Frequest_log",
        severity="ERROR" if status >= 500 else "INFO", service="default",
        version=version_id, instance="i", trace="", method="GET", path="/",
        status=status, kind="request",
    )


def stderr(seconds: float, version_id: str, text: str) -> LogRecord:
    return build_record(
        insert_id=f"e{seconds}", timestamp=T0 + seconds,
        log_name="projects/p/logs/stderr", severity="ERROR", service="default",
        version=version_id, instance="i", trace="", kind="text", text=text,
    )


HISTORY = (
    change(0, ip(v1=1.0), None, "ci@example.com", "UpdateService"),
    change(60, ip(v2=1.0), ip(v1=1.0), "alex@example.com", "UpdateService"),
    change(180, ip(v1=1.0), ip(v2=1.0), "sam@example.com", "rollback"),
)


def test_impact_counts_each_version_and_its_share_of_the_traffic() -> None:
    records = [
        request(30, "v1", 200), stderr(31, "v1", KEY_ERROR), request(31, "v1", 500),
        *(request(61 + i, "v2", 500) for i in range(10)),
        *(stderr(61 + i, "v2", IMPORT_ERROR) for i in range(10)),
    ]
    impact = measure_impact(records, HISTORY, ip(v1=1.0))
    assert impact.failed_requests == 11 and impact.tracebacks == 11
    worst = impact.worst
    assert worst is not None and worst.version == "v2"
    assert (worst.failed_requests, worst.tracebacks, worst.share) == (10, 10, 1.0)
    assert worst.first_error == T0 + 61 and worst.last_error == T0 + 70
    assert impact.versions[1].version == "v1"
    assert impact.duration == 39  # from v1 at 31 s to v2 at 70 s


def test_timeline_merges_every_source_in_order() -> None:
    groups = ErrorGroups()
    traceback = parse_tracebacks(IMPORT_ERROR)[0]
    groups.add_traceback(traceback, timestamp=T0 + 61, service="default",
                         version="v2")
    timeline = Timeline()
    timeline.add_error_groups(groups.ranked())
    timeline.add_traffic_changes([
        *HISTORY, change(50, ip(v1=0.9, v2=0.1), ip(v1=1.0), "me", "guard-step"),
    ], skip_guard=True)
    timeline.add_alerts([Alert(NEW_ERROR_GROUP, "default", "v2", T0 + 62,
                               "New error in v2 of default: ModuleNotFoundError")])
    timeline.add_guard_events([
        StoredEvent(1, T0 + 50, "step", "holding", 0, "Step 1 of 2: v2 gets 10%.",
                    {}),
        StoredEvent(1, T0 + 51, "comparison", "holding", 0, "figures", {}),
        StoredEvent(1, T0 + 63, "state", "rolling-back", 0, "Step 1 failed.", {}),
    ], "default", "v2")
    timeline.add_deploys([replace(version("v2"), create_time=at(40))])

    kinds = [event.kind for event in timeline.events()]
    assert kinds == [
        TimelineKind.TRAFFIC, TimelineKind.DEPLOY, TimelineKind.GUARD_STEP,
        TimelineKind.TRAFFIC, TimelineKind.ERROR_GROUP, TimelineKind.ALERT,
        TimelineKind.GUARD_ROLLBACK, TimelineKind.TRAFFIC,
    ]
    assert timeline.events()[1].message == (
        "dev@example.com deployed v2 of default (python311)."
    )
    assert timeline.to_json()[0]["time"] == "2025-11-24T16:00:00Z"


def test_draft_has_the_derp_sections_and_marks_what_people_must_write() -> None:
    records = [
        *(request(61 + i, "v2", 500) for i in range(3)),
        stderr(61, "v2", IMPORT_ERROR),
    ]
    groups = ErrorGroups()
    for record in records:
        for traceback in record.tracebacks:
            groups.add(record, traceback)
    timeline = Timeline()
    timeline.add_traffic_changes(HISTORY)
    timeline.add_alerts([Alert(NEW_ERROR_GROUP, "default", "v2", T0 + 65,
                               "New error in v2 | default")])
    incident = Incident(
        "demo", "default", T0, T0 + 300, timeline,
        measure_impact(records, HISTORY, ip(v1=1.0)), tuple(groups.ranked()),
        HISTORY, drafted_at=T0 + 400,
    )
    text = draft_report(incident)
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert headings == [
        "## Summary", "## Timeline (UTC)", "## Detection", "## Escalation",
        "## Remediation", "## Prevention", "## Top tracebacks",
    ]
    assert text.count("**TODO (people):**") >= 6
    assert "3 requests failed with 5xx and 1 tracebacks" in text
    assert "v2: 3 failed requests, 1 tracebacks over 2 s, up to 100% of" in text
    assert "First alert: 2025-11-24 16:01:05 UTC, 4 s later" in text
    assert "New error in v2 \\| default" in text  # a table cell stays one cell
    assert "Traffic left v2 at 2025-11-24 16:03:00 UTC (sam@example.com, " in text
    assert "119 s" not in text and "1 min 59 s after its first error" in text
    assert "ModuleNotFoundError: No module named 'google.cloud.storage'" in text
    assert "```\nTraceback (most recent call last):" in text


# -- the bad-push scenario, end to end --------------------------------------------


@dataclass
class BadPush:
    emulator: Emulator
    started: float


@pytest.fixture()
def bad_push(isolated_home: str) -> Iterator[BadPush]:
    # The replay ends well before now, so the console's own rollback comes
    # after every logged error, as it would in a real incident.
    clock = ManualClock(start=time.time() - 600)
    emulator = Emulator(
        EmulatorOptions(
            run_traffic=False,
            config=EmulatorConfig(operation_delay=0.05),
            scenario=ScenarioOptions(name="bad-push", rate=20, bad_push_at=30),
        ),
        clock=clock,
    ).start()
    started = clock.now()
    emulator.scenario.run_for(90, step=0.5)
    yield BadPush(emulator, started)
    emulator.stop()


def rfc3339(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )


def test_report_after_the_bad_push_has_its_timeline_and_traceback(
    bad_push: BadPush, capsys: pytest.CaptureFixture[str]
) -> None:
    address = bad_push.emulator.address
    pushed = bad_push.emulator.scenario.bad_push_version
    assert pushed is not None
    assert main(["rollback", "default", "--yes", "--emulator", address]) == 0
    capsys.readouterr()

    since = rfc3339(bad_push.started - 5)
    code = main(["report", "default", "--since", since, "--emulator", address])
    out, err = capsys.readouterr()
    assert code == 0, err

    timeline = out.split("## Timeline (UTC)")[1].split("## Detection")[0]
    assert f"alex.kim@example.com deployed {pushed} of default" in timeline
    assert f"alex.kim@example.com set the split of default to {pushed} 100%" in (
        timeline
    )
    assert "First pkg_resources.DistributionNotFound" in timeline
    assert "set the split of default to 20251117t163045 100%" in timeline
    order = [timeline.index(text) for text in (
        "deployed " + pushed, "First pkg_resources.DistributionNotFound",
        f"from {pushed} 100%",
    )]
    assert order == sorted(order)

    tracebacks = out.split("## Top tracebacks")[1]
    assert (
        "\n### 1. `pkg_resources.DistributionNotFound: The 'google-api-core' "
    ) in tracebacks
    assert "raise DistributionNotFound(req, requirers)" in tracebacks
    assert f"- {pushed}: " in out and "up to 100% of the traffic" in out
    assert f"Traffic left {pushed} at " in out


def test_report_writes_a_file_and_refuses_bad_times(
    bad_push: BadPush, capsys: pytest.CaptureFixture[str], isolated_home: str
) -> None:
    address = bad_push.emulator.address
    target = f"{isolated_home}/incident.md"
    since = rfc3339(bad_push.started - 5)
    code = main(["report", "default", "--since", since, "--output", target,
                 "--emulator", address])
    assert code == 0
    with open(target, encoding="utf-8") as handle:
        assert "DistributionNotFound" in handle.read()

    with pytest.raises(SystemExit) as exit_info:
        main(["report", "default", "--since", "yesterday", "--emulator", address])
    assert exit_info.value.code == 2
    assert "expected a time such as" in capsys.readouterr().err
    code = main(["report", "default", "--since", "1h", "--until", "2h",
                 "--emulator", address])
    assert code == 2
