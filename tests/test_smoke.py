"""The smoke check: real HTTP requests, retries, timeouts, and the logs.

The first tests use a small local HTTP server whose answers each test sets
and a log watch the test fills; the last ones run against the emulator's
``staged`` scenario through the real tail, where ``v3-broken`` fails at
import.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from deployconsole.core.logentry import LogRecord, build_record
from deployconsole.core.rollout_rules import PipelineWatch
from deployconsole.core.smoke import SmokePlan, SmokeRunner, SmokeTarget
from deployconsole.emulator import world
from deployconsole.emulator.behaviours import Failure
from deployconsole.emulator.requestlogs import build_entries, zone
from deployconsole.emulator.scenario import ScenarioOptions
from deployconsole.emulator.server import Emulator, EmulatorOptions
from deployconsole.emulator.state import DEFAULT_PROJECT, EmulatorConfig
from deployconsole.gcp.channel import Endpoint
from deployconsole.gcp.guard_wiring import LogFeed

TRACEBACK = """\
Traceback (most recent call last):
  File "/workspace/main.py", line 3, in <module>
    import shop
ModuleNotFoundError: No module named 'shop'"""


class App:
    """A local HTTP server: ``answers[path]`` is a list of statuses to give
    in turn (the last one repeats); ``delay`` holds each answer back."""

    def __init__(self) -> None:
        self.answers: dict[str, list[int]] = {}
        self.delay = 0.0
        self.requests: list[str] = []
        app = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                app.requests.append(self.path)
                queue = app.answers.get(self.path.split("/", 3)[-1], [200])
                status = queue.pop(0) if len(queue) > 1 else queue[0]
                time.sleep(app.delay)
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
            daemon=True,
        )
        self.thread.start()

    def target(self, warmup: bool = True) -> SmokeTarget:
        port = self.server.server_address[1]
        return SmokeTarget("default", "v2", f"http://127.0.0.1:{port}/v/", warmup)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Watch:
    """The candidate's logs as the test has them: each answered request is
    logged at once unless ``logging`` is off."""

    app: App
    logging: bool = True
    tracebacks: list[LogRecord] = field(default_factory=list)

    def requests_since(self, service: str, version: str, since: float) -> float:
        return float(len(self.app.requests)) if self.logging else 0.0

    def tracebacks_since(
        self, service: str, version: str, since: float
    ) -> list[LogRecord]:
        return [r for r in self.tracebacks if (r.timestamp or 0) >= since]


@pytest.fixture()
def app() -> Iterator[App]:
    app = App()
    yield app
    app.close()


FAST = SmokePlan(paths=("/", "/healthz"), retries=1, retry_delay=0.05, settle=0.0,
                 log_wait=1.0, timeout=2.0)


def stderr_record(text: str, at: float) -> LogRecord:
    return build_record(
        insert_id="e1", timestamp=at, log_name="projects/p/logs/stderr",
        severity="ERROR", service="default", version="v2", instance="i1",
        trace="", kind="text", text=text,
    )


def test_passing_check_requests_warmup_then_each_path(app: App) -> None:
    result = SmokeRunner().run(FAST, app.target(), Watch(app))
    assert result.passed, result.describe()
    assert app.requests == ["/v/_ah/warmup", "/v/", "/v/healthz"]
    assert [c.name for c in result.checks] == [
        "warmup", "GET /", "GET /healthz", "logs"
    ]
    assert result.checks[1].status == 200 and result.checks[1].attempts == 1


def test_warmup_is_not_sent_to_a_version_without_warmup(app: App) -> None:
    result = SmokeRunner().run(FAST, app.target(warmup=False), Watch(app))
    assert result.passed
    assert "/v/_ah/warmup" not in app.requests


def test_a_failing_request_is_retried(app: App) -> None:
    app.answers["healthz"] = [503, 200]
    result = SmokeRunner().run(FAST, app.target(), Watch(app))
    assert result.passed
    assert result.checks[2].attempts == 2


def test_a_wrong_status_fails_and_stops_the_remaining_requests(app: App) -> None:
    app.answers[""] = [500]
    result = SmokeRunner().run(FAST, app.target(), Watch(app))
    assert not result.passed
    failed = result.checks[1]
    assert failed.message == "GET / answered 500 (expected 200; tried 2 times)."
    assert "/v/healthz" not in app.requests
    # The logs are read all the same, for the report.
    assert result.checks[-1].name == "logs"


def test_no_answer_and_timeouts_fail_in_plain_words(app: App) -> None:
    app.delay = 0.5
    plan = replace(FAST, timeout=0.1, retries=0)
    result = SmokeRunner().run(plan, app.target(), Watch(app))
    assert not result.passed
    assert "warmup no answer (" in result.checks[0].message
    assert "timed out" in result.checks[0].message

    closed = SmokeTarget("default", "v2", "http://127.0.0.1:9/", True)
    result = SmokeRunner().run(plan, closed, Watch(app))
    assert "no answer" in result.checks[0].message
    assert result.checks[-1].passed  # nothing answered, so nothing to log


def test_a_traceback_in_the_logs_fails_even_when_every_request_passed(
    app: App,
) -> None:
    watch = Watch(app)
    watch.tracebacks.append(stderr_record(TRACEBACK, time.time()))
    result = SmokeRunner().run(FAST, app.target(), watch)
    assert all(check.passed for check in result.checks[:-1])
    assert not result.passed
    logs = result.checks[-1]
    assert "ModuleNotFoundError: No module named 'shop'" in logs.message
    assert logs.tracebacks and "import shop" in logs.tracebacks[0]


def test_an_old_traceback_does_not_fail_the_check(app: App) -> None:
    watch = Watch(app)
    watch.tracebacks.append(stderr_record(TRACEBACK, time.time() - 600))
    assert SmokeRunner().run(FAST, app.target(), watch).passed


def test_logs_that_never_arrive_fail_the_check(app: App) -> None:
    plan = replace(FAST, log_wait=0.2)
    result = SmokeRunner().run(plan, app.target(), Watch(app, logging=False))
    assert not result.passed
    assert "did not arrive within 0.2 s" in result.checks[-1].message


def test_a_cancelled_check_is_not_a_pass(app: App) -> None:
    cancel = threading.Event()
    cancel.set()
    result = SmokeRunner().run(FAST, app.target(), Watch(app), cancel=cancel)
    assert result.cancelled and not result.passed
    assert app.requests == []


def test_bad_plans_are_refused_in_plain_words() -> None:
    with pytest.raises(ValueError, match="must start with /"):
        SmokePlan(paths=("healthz",))
    with pytest.raises(ValueError, match="not an HTTP status"):
        SmokePlan(expected_status=42)


# -- against the emulator -------------------------------------------------------


@dataclass
class Staged:
    emulator: Emulator
    feed: LogFeed

    def target(self, version: str) -> SmokeTarget:
        url = self.emulator.state.version_url("default", version)
        return SmokeTarget("default", version, url, True)


@pytest.fixture()
def staged() -> Iterator[Staged]:
    emulator = Emulator(
        EmulatorOptions(
            config=EmulatorConfig(operation_delay=0.05),
            scenario=ScenarioOptions(name="staged", rate=50),
        )
    ).start()
    feed = LogFeed(Endpoint(DEFAULT_PROJECT, emulator.address), "default")
    feed.start(prime_seconds=0)
    try:
        assert feed.wait_ready(10) is None
        yield Staged(emulator, feed)
    finally:
        feed.close()
        emulator.stop()


EMULATOR_PLAN = SmokePlan(retries=0, settle=1.0, log_wait=10.0)


def test_broken_version_fails_with_its_import_error(staged: Staged) -> None:
    watch = PipelineWatch(staged.feed, time.time)
    result = SmokeRunner().run(EMULATOR_PLAN, staged.target("v3-broken"), watch)
    assert not result.passed
    assert result.checks[0].name == "warmup" and result.checks[0].status == 500
    logs = result.checks[-1]
    assert not logs.passed
    assert "DistributionNotFound" in logs.message
    assert "pkg_resources.DistributionNotFound" in logs.tracebacks[0]


def test_healthy_version_passes(staged: Staged) -> None:
    watch = PipelineWatch(staged.feed, time.time)
    result = SmokeRunner().run(EMULATOR_PLAN, staged.target("v2-ok"), watch)
    assert result.passed, result.describe()


def test_import_error_logged_while_requests_pass_fails(staged: Staged) -> None:
    """One worker failed to boot while another served the check: every
    request answers 200, and only the logs show the import error."""
    state = staged.emulator.state
    rng = random.Random(5)

    def fetch_then_log_boot_failure(url: str, timeout: float) -> int:
        from deployconsole.core.smoke import urllib_fetch

        status = urllib_fetch(url, timeout)
        served = world.serve(state, "default", "v2-ok", time.time(), rng)
        assert served is not None
        died = replace(served, failure=Failure.IMPORT, status=200)
        assert state.logs is not None
        state.logs.write(build_entries(
            state.project_id, zone(state.config.location_id), died
        ))
        return status

    watch = PipelineWatch(staged.feed, time.time)
    runner = SmokeRunner(fetch=fetch_then_log_boot_failure)
    result = runner.run(EMULATOR_PLAN, staged.target("v2-ok"), watch)
    assert all(check.passed for check in result.checks[:-1])
    assert not result.passed
    assert "DistributionNotFound" in result.checks[-1].message
