"""The guarded rollout's values: settings, states, comparisons, events.

Everything here is a small frozen value, so the guard's thread can hand it
to the GUI thread or to the store without copying. The state machine itself
is in :mod:`deployconsole.core.rollout`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from deployconsole.core.smoke import CheckResult, SmokePlan
from deployconsole.core.split import Split, format_fraction

DEFAULT_STEPS = (1.0, 10.0, 50.0, 100.0)


class GuardState(str, Enum):
    """Where a guarded rollout is.

    The last five are final. REJECTED: the smoke check failed and no
    traffic moved. ROLLED_BACK: a step failed and the split from before the
    guard is live again. ABORTED: the user stopped it and the split from
    before is live again. INTERRUPTED: the split was changed outside the
    guard, which then left traffic alone. BROKEN: the split from before
    could not be restored; the split read back is recorded.
    """

    PENDING = "pending"
    SMOKE = "smoke"
    SHIFTING = "shifting"
    HOLDING = "holding"
    PAUSED = "paused"
    ROLLING_BACK = "rolling-back"
    PROMOTED = "promoted"
    REJECTED = "rejected"
    ROLLED_BACK = "rolled-back"
    ABORTED = "aborted"
    INTERRUPTED = "interrupted"
    BROKEN = "broken"

    @property
    def final(self) -> bool:
        return self in _FINAL


_FINAL = frozenset(
    {
        GuardState.PROMOTED,
        GuardState.REJECTED,
        GuardState.ROLLED_BACK,
        GuardState.ABORTED,
        GuardState.INTERRUPTED,
        GuardState.BROKEN,
    }
)


class GuardConfigError(ValueError):
    """Settings or a target the guard cannot work with; the message says why."""


@dataclass(frozen=True)
class GuardSettings:
    """How a guarded rollout goes (each one a user setting).

    Attributes:
        steps: the candidate's share at each step, in percent, rising to 100.
        hold_seconds: how long each step is watched before the next.
        max_error_ratio: a step fails when the candidate's 5xx ratio is
            above this...
        factor: ...and above the baseline's ratio times this...
        min_requests: ...over at least this many candidate requests.
        new_group_count: a step also fails when an error group first seen
            in the candidate (and not in the baseline) reaches this count.
        window_seconds: the comparison covers the step so far, at most this
            many seconds (None: the hold).
        smoke: the smoke check before any traffic moves (None: skipped).
        poll_seconds: how often the guard's thread looks at the figures.
        restore_attempts: how often restoring the split is tried.
        log_timeout: seconds the log feed may be down before a step fails
            for want of figures.
    """

    steps: tuple[float, ...] = DEFAULT_STEPS
    hold_seconds: float = 60.0
    max_error_ratio: float = 0.02
    factor: float = 2.0
    min_requests: int = 50
    # One is enough: a traceback the baseline never logged is the clearest
    # sign of a bad push, and at a 1% step a second one may take minutes.
    new_group_count: int = 1
    window_seconds: float | None = None
    smoke: SmokePlan | None = field(default_factory=SmokePlan)
    poll_seconds: float = 0.5
    restore_attempts: int = 3
    log_timeout: float = 60.0

    def __post_init__(self) -> None:
        problems = settings_problems(self)
        if problems:
            raise GuardConfigError(" ".join(problems))

    @property
    def window(self) -> float:
        return self.window_seconds if self.window_seconds else self.hold_seconds

    def to_json(self) -> dict[str, Any]:
        return {
            "steps": list(self.steps),
            "hold_seconds": self.hold_seconds,
            "max_error_ratio": self.max_error_ratio,
            "factor": self.factor,
            "min_requests": self.min_requests,
            "new_group_count": self.new_group_count,
            "window_seconds": self.window_seconds,
            "effective_window_seconds": self.window,
            "poll_seconds": self.poll_seconds,
            "restore_attempts": self.restore_attempts,
            "log_timeout": self.log_timeout,
            "smoke": self.smoke.to_json() if self.smoke is not None else None,
        }

    def describe(self) -> str:
        steps = " → ".join(f"{step:g}%" for step in self.steps)
        times = "once" if self.new_group_count == 1 else (
            f"{self.new_group_count} times"
        )
        return (
            f"steps {steps}, hold {self.hold_seconds:g} s each; a step fails when "
            f"the candidate's 5xx ratio is above {self.max_error_ratio:.1%} and "
            f"above {self.factor:g}× the baseline's over at least "
            f"{self.min_requests} requests, or when it logs an error the "
            f"baseline never did ({times})"
        )


def settings_from_json(data: dict[str, Any]) -> GuardSettings:
    """The settings :meth:`GuardSettings.to_json` wrote (for recovery)."""
    smoke = data.get("smoke")
    return GuardSettings(
        steps=tuple(float(step) for step in data.get("steps", DEFAULT_STEPS)),
        hold_seconds=float(data.get("hold_seconds", 60.0)),
        max_error_ratio=float(data.get("max_error_ratio", 0.02)),
        factor=float(data.get("factor", 2.0)),
        min_requests=int(data.get("min_requests", 50)),
        new_group_count=int(data.get("new_group_count", 1)),
        window_seconds=data.get("window_seconds"),
        smoke=SmokePlan.from_json(smoke) if isinstance(smoke, dict) else None,
        poll_seconds=float(data.get("poll_seconds", 0.5)),
        restore_attempts=int(data.get("restore_attempts", 3)),
        log_timeout=float(data.get("log_timeout", 60.0)),
    )


def settings_problems(settings: GuardSettings) -> list[str]:
    problems = steps_problems(settings.steps)
    positive = {
        "hold": settings.hold_seconds,
        "poll interval": settings.poll_seconds,
        "log timeout": settings.log_timeout,
    }
    for name, value in positive.items():
        if not math.isfinite(value) or value <= 0:
            problems.append(f"The {name} must be a positive number of seconds.")
    if settings.window_seconds is not None and not settings.window_seconds > 0:
        problems.append("The comparison window must be a positive number of seconds.")
    if not 0 <= settings.max_error_ratio < 1:
        problems.append(
            f"The error ratio threshold must be at least 0 and below 1, not "
            f"{settings.max_error_ratio}."
        )
    if not math.isfinite(settings.factor) or settings.factor < 1:
        problems.append(f"The factor must be at least 1, not {settings.factor}.")
    if settings.min_requests < 1:
        problems.append("The minimum number of requests must be at least 1.")
    if settings.new_group_count < 1:
        problems.append("The new error group count must be at least 1.")
    if settings.restore_attempts < 1:
        problems.append("Restoring the split must be tried at least once.")
    return problems


def steps_problems(steps: Sequence[float]) -> list[str]:
    if not steps:
        return ["Give at least one step (100 sends all traffic at once)."]
    problems = []
    for step in steps:
        if not math.isfinite(step) or not 0 < step <= 100:
            problems.append(f"The step {step:g}% is not between 0 and 100.")
    if any(b <= a for a, b in zip(steps, steps[1:], strict=False)):
        problems.append("The steps must rise, each above the one before.")
    if steps[-1] != 100:
        problems.append(
            f"The last step is {steps[-1]:g}%; it must be 100, where the "
            "candidate is promoted."
        )
    return problems


@dataclass(frozen=True)
class Figures:
    """Requests and 5xx responses of one side of a comparison."""

    requests: float
    errors: float
    latency_p95: float | None = None

    @property
    def ratio(self) -> float:
        return self.errors / self.requests if self.requests > 0 else 0.0

    def describe(self) -> str:
        if self.requests <= 0:
            return "no requests"
        return (
            f"{self.errors:.0f} of {self.requests:.0f} requests failed "
            f"({self.ratio:.1%})"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "errors": self.errors,
            "ratio": self.ratio,
            "latency_p95": self.latency_p95,
        }


@dataclass(frozen=True)
class NewGroup:
    """An error group first seen in the candidate, with its latest traceback."""

    fingerprint: str
    headline: str
    count: int
    first_seen: float | None
    traceback: str

    def to_json(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint,
            "headline": self.headline,
            "count": self.count,
            "first_seen": self.first_seen,
            "traceback": self.traceback,
        }


@dataclass(frozen=True)
class Comparison:
    """Candidate against baseline over one window, and the verdict.

    Attributes:
        at: when it was taken (epoch seconds).
        window_start: where the window starts (epoch seconds).
        candidate, baseline: their figures over the window.
        new_groups: error groups first seen in the candidate.
        failures: why the step fails (empty: it does not).
        notes: what could not be judged (too few requests...).
    """

    at: float
    window_start: float
    candidate: Figures
    baseline: Figures
    new_groups: tuple[NewGroup, ...] = ()
    failures: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def failed(self) -> bool:
        return bool(self.failures)

    def describe(self) -> str:
        text = (
            f"candidate {self.candidate.describe()}; baseline "
            f"{self.baseline.describe()}"
        )
        if self.failures:
            text += " — " + "; ".join(self.failures)
        return text

    def to_json(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "window_start": self.window_start,
            "candidate": self.candidate.to_json(),
            "baseline": self.baseline.to_json(),
            "new_groups": [group.to_json() for group in self.new_groups],
            "failures": list(self.failures),
            "notes": list(self.notes),
        }


class EventKind(str, Enum):
    STATE = "state"  # the guard changed state
    CHECK = "check"  # one smoke check finished
    STEP = "step"  # a step's split is live; or a step passed or failed
    COMPARISON = "comparison"  # fresh figures while holding (not stored)
    PROGRESS = "progress"  # a step of a traffic change in flight (not stored)
    TRAFFIC = "traffic"  # a traffic change (step, restore) ended
    FINISHED = "finished"  # the guard reached a final state


@dataclass(frozen=True)
class GuardEvent:
    """Something that happened in a guarded rollout.

    Attributes:
        kind: which kind of event.
        at: when (epoch seconds).
        state: the guard's state after it.
        message: a sentence for the user.
        step: the step index (0-based; -1 before the first step).
        percent: the candidate's share at that step.
        split: for STEP and TRAFFIC, the split read back.
        comparison: for COMPARISON and STEP, the figures.
        check: for CHECK, the smoke check's result.
        elapsed: for COMPARISON, seconds held at the step so far.
    """

    kind: EventKind
    at: float
    state: GuardState
    message: str
    step: int = -1
    percent: float | None = None
    split: Split | None = None
    comparison: Comparison | None = None
    check: CheckResult | None = None
    elapsed: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "at": self.at,
            "state": self.state.value,
            "message": self.message,
            "step": self.step,
            "percent": self.percent,
            "split": self.split.to_json() if self.split is not None else None,
            "comparison": (
                self.comparison.to_json() if self.comparison is not None else None
            ),
            "check": self.check.to_json() if self.check is not None else None,
        }


@dataclass(frozen=True)
class GuardResult:
    """How a guarded rollout ended.

    Attributes:
        state: the final state.
        reason: one or two sentences: why it ended so.
        split_before: the split live before the guard began.
        split_after: the split read back at the end (None: unreadable).
        steps_passed: how many steps were held without failing.
        traffic_moved: whether any traffic change reached App Engine.
        unreachable: it ended because App Engine could not be reached or
            permission was missing.
        tracebacks: the tracebacks that made it fail, as text.
        events: the stored timeline of the rollout.
    """

    state: GuardState
    reason: str
    split_before: Split
    split_after: Split | None
    steps_passed: int
    traffic_moved: bool
    unreachable: bool = False
    tracebacks: tuple[str, ...] = ()
    events: tuple[GuardEvent, ...] = ()

    @property
    def promoted(self) -> bool:
        return self.state is GuardState.PROMOTED


def describe_share(percent: float) -> str:
    return format_fraction(percent / 100)
