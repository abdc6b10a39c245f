"""The smoke check: a staged version is asked before it gets any traffic.

Real HTTP requests go to the candidate's own version URL: the warmup
request first when the version has warmup enabled (App Engine would send
it anyway before routing traffic there), then each path of the plan, each
expecting a status, with a timeout and retries. Meanwhile the candidate's
own logs are watched: a traceback logged by the candidate during the check
fails it even when every request passed, because an app whose import fails
may still answer from a worker that started earlier, or from a static
handler.

A failed request stops the remaining ones (a CD pipeline wants the verdict
quickly), but the logs are always read, so the report can show why.

HTTP goes through urllib: these are plain requests to the app, not calls of
a Google API, so they belong here rather than in the gcp layer.
"""

from __future__ import annotations

import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from deployconsole.core.fingerprint import fingerprint
from deployconsole.core.logentry import LogRecord

log = logging.getLogger("deployconsole.smoke")

WARMUP_PATH = "/_ah/warmup"
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
# Enough of a body to tell an error page from a page; the rest is not read.
_BODY_LIMIT = 64 * 1024


@dataclass(frozen=True)
class SmokePlan:
    """What the smoke check asks, and how patiently.

    Attributes:
        paths: paths requested on the version URL, in order.
        expected_status: the status each path must answer.
        timeout: seconds one request may take.
        retries: further attempts after a request fails.
        retry_delay: seconds between attempts.
        warmup: send the warmup request first when the version has warmup
            requests enabled (it must answer 2xx).
        log_wait: seconds to wait for the check's request logs to arrive
            before the logs count as unreadable (which fails the check).
        settle: seconds to wait after they arrived, for tracebacks still
            being joined from several entries.
    """

    paths: tuple[str, ...] = ("/",)
    expected_status: int = 200
    timeout: float = 10.0
    retries: int = 2
    retry_delay: float = 1.0
    warmup: bool = True
    log_wait: float = 15.0
    settle: float = 1.5

    def __post_init__(self) -> None:
        problems = []
        for path in self.paths:
            if not path.startswith("/"):
                problems.append(f"The smoke path {path!r} must start with /.")
        if not 100 <= self.expected_status <= 599:
            problems.append(
                f"The expected status {self.expected_status} is not an HTTP status."
            )
        if self.timeout <= 0 or self.log_wait <= 0:
            problems.append("The smoke timeouts must be positive numbers of seconds.")
        if self.retries < 0 or self.retry_delay < 0 or self.settle < 0:
            problems.append("Smoke retries and delays must not be negative.")
        if problems:
            raise ValueError(" ".join(problems))

    def to_json(self) -> dict[str, Any]:
        return {
            "paths": list(self.paths),
            "expected_status": self.expected_status,
            "timeout": self.timeout,
            "retries": self.retries,
            "retry_delay": self.retry_delay,
            "warmup": self.warmup,
            "log_wait": self.log_wait,
            "settle": self.settle,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SmokePlan:
        """The plan :meth:`to_json` wrote (missing fields keep defaults)."""
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        if "paths" in known:
            known["paths"] = tuple(known["paths"])
        return cls(**known)


@dataclass(frozen=True)
class SmokeTarget:
    """The version being checked and where it answers."""

    service: str
    version: str
    url: str
    warmup_enabled: bool


@dataclass(frozen=True)
class CheckResult:
    """One check of the smoke test.

    Attributes:
        name: ``warmup``, ``GET /path`` or ``logs``.
        url: what was requested ("" for the log check).
        passed: whether it passed.
        message: a sentence saying what happened.
        status: the last HTTP status received (None: none).
        attempts: requests made for it.
        seconds: how long it took.
        tracebacks: for the log check, the candidate's tracebacks as text.
    """

    name: str
    url: str
    passed: bool
    message: str
    status: int | None = None
    attempts: int = 0
    seconds: float = 0.0
    tracebacks: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "url": self.url,
            "passed": self.passed,
            "message": self.message,
            "status": self.status,
            "attempts": self.attempts,
            "seconds": round(self.seconds, 3),
            "tracebacks": list(self.tracebacks),
        }


@dataclass(frozen=True)
class SmokeResult:
    """Every check, and whether the candidate may get traffic."""

    checks: tuple[CheckResult, ...]
    started: float
    finished: float
    cancelled: bool = False

    @property
    def passed(self) -> bool:
        return not self.cancelled and all(check.passed for check in self.checks)

    @property
    def tracebacks(self) -> tuple[str, ...]:
        return tuple(text for check in self.checks for text in check.tracebacks)

    def describe(self) -> str:
        if self.cancelled:
            return "The smoke check was cancelled."
        failed = [check for check in self.checks if not check.passed]
        if not failed:
            return f"All {len(self.checks)} smoke checks passed."
        return "Smoke check failed: " + " ".join(check.message for check in failed)


class LogWatch(Protocol):
    """The candidate's logs as the live feed has them."""

    def requests_since(self, service: str, version: str, since: float) -> float:
        """Request logs of the version stamped at or after ``since``."""
        ...

    def tracebacks_since(
        self, service: str, version: str, since: float
    ) -> list[LogRecord]:
        """Complete records of the version with tracebacks, from ``since``."""
        ...


Fetch = Callable[[str, float], int]


def urllib_fetch(url: str, timeout: float) -> int:
    """GET ``url``; the HTTP status. Raises OSError when nothing answered."""
    request = urllib.request.Request(
        url, method="GET", headers={"User-Agent": "deployconsole-smoke/1"}
    )
    host = urlsplit(url).hostname or ""
    # A user's proxy must not swallow requests to a local emulator.
    handlers: list[Any] = [urllib.request.ProxyHandler({})] if host in _LOOPBACK else []
    opener = urllib.request.build_opener(*handlers)
    try:
        with opener.open(request, timeout=timeout) as response:
            response.read(_BODY_LIMIT)
            return int(response.status)
    except urllib.error.HTTPError as error:
        error.read(_BODY_LIMIT)
        error.close()
        return int(error.code)


class SmokeRunner:
    """Runs a :class:`SmokePlan` against a target.

    Args:
        fetch: does one GET; returns the status or raises OSError.
        clock: epoch seconds (the log watch compares entry times with it).
    """

    def __init__(
        self, fetch: Fetch = urllib_fetch, clock: Callable[[], float] = time.time
    ) -> None:
        self.fetch = fetch
        self.clock = clock

    def run(
        self,
        plan: SmokePlan,
        target: SmokeTarget,
        watch: LogWatch,
        *,
        cancel: threading.Event | None = None,
        on_check: Callable[[CheckResult], None] | None = None,
    ) -> SmokeResult:
        """Every check in order; blocks for at most the plan's timeouts."""
        cancel = cancel or threading.Event()
        started = self.clock()
        checks: list[CheckResult] = []
        answered = 0

        def done(check: CheckResult) -> None:
            checks.append(check)
            log.info(
                "Smoke check %s of %s/%s %s: %s", check.name, target.service,
                target.version, "passed" if check.passed else "failed", check.message,
            )
            if on_check is not None:
                on_check(check)

        requests: list[tuple[str, str, range]] = []
        if plan.warmup and target.warmup_enabled:
            requests.append(("warmup", WARMUP_PATH, range(200, 300)))
        for path in plan.paths:
            wanted = range(plan.expected_status, plan.expected_status + 1)
            requests.append((f"GET {path}", path, wanted))

        for name, path, wanted in requests:
            if cancel.is_set():
                return SmokeResult(tuple(checks), started, self.clock(), True)
            check, reached = self._request(plan, target, name, path, wanted, cancel)
            answered += reached
            done(check)
            if not check.passed:
                break

        if cancel.is_set():
            return SmokeResult(tuple(checks), started, self.clock(), True)
        done(self._logs(plan, target, watch, started, answered, cancel))
        return SmokeResult(tuple(checks), started, self.clock())

    def _request(
        self,
        plan: SmokePlan,
        target: SmokeTarget,
        name: str,
        path: str,
        wanted: range,
        cancel: threading.Event,
    ) -> tuple[CheckResult, int]:
        """The check's result and how many of its requests got an answer."""
        url = target.url.rstrip("/") + path
        began = time.monotonic()
        status: int | None = None
        problem = ""
        answered = 0
        attempts = 0
        for attempt in range(plan.retries + 1):
            if attempt and cancel.wait(plan.retry_delay):
                break
            attempts += 1
            try:
                status = self.fetch(url, plan.timeout)
            except OSError as error:
                status = None
                problem = f"no answer ({_reason(error)})"
                continue
            answered += 1
            if status in wanted:
                return CheckResult(
                    name, url, True, f"{name} answered {status}.", status, attempts,
                    time.monotonic() - began,
                ), answered
            problem = f"answered {status}"
        expected = _expected_text(wanted)
        tries = "once" if attempts == 1 else f"{attempts} times"
        message = f"{name} {problem} (expected {expected}; tried {tries})."
        return CheckResult(
            name, url, False, message, status, attempts, time.monotonic() - began
        ), answered

    def _logs(
        self,
        plan: SmokePlan,
        target: SmokeTarget,
        watch: LogWatch,
        started: float,
        answered: int,
        cancel: threading.Event,
    ) -> CheckResult:
        began = time.monotonic()
        service, version = target.service, target.version
        # Entry times are whole microseconds and may trail our clock a little.
        since = started - 1.0
        arrived = True
        if answered:
            deadline = began + plan.log_wait
            while watch.requests_since(service, version, since) < answered:
                if time.monotonic() >= deadline or cancel.wait(0.1):
                    arrived = False
                    break
            if arrived:
                cancel.wait(plan.settle)
        records = watch.tracebacks_since(service, version, since)
        texts = _distinct_tracebacks(records)
        seconds = time.monotonic() - began
        if texts:
            first = records[0].tracebacks[-1].headline()
            more = (
                f" and {len(texts) - 1} other error(s)" if len(texts) > 1 else ""
            )
            message = (
                f"{version} logged {len(records)} traceback(s) during the check: "
                f"{first}{more}."
            )
            return CheckResult("logs", "", False, message, None, 0, seconds, texts)
        if not arrived:
            message = (
                f"The request logs of the check did not arrive within "
                f"{plan.log_wait:g} s, so {version}'s logs could not be checked."
            )
            return CheckResult("logs", "", False, message, None, 0, seconds)
        return CheckResult(
            "logs", "", True, f"{version} logged no traceback during the check.",
            None, 0, seconds,
        )


def _distinct_tracebacks(records: list[LogRecord]) -> tuple[str, ...]:
    """One text per error group (the first seen), so that the same import
    error logged by every worker is reported once."""
    seen: dict[str, str] = {}
    for record in records:
        for traceback in record.tracebacks:
            seen.setdefault(fingerprint(traceback), traceback.format())
    return tuple(seen.values())


def _expected_text(wanted: range) -> str:
    if len(wanted) == 1:
        return str(wanted[0])
    return f"{wanted[0] // 100}xx"


def _reason(error: OSError) -> str:
    reason = getattr(error, "reason", None)
    return str(reason or error) or type(error).__name__
