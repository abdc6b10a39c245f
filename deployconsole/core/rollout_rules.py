"""The guard's arithmetic: each step's split and the step verdict.

Kept apart from the state machine so that both can be read, and tested,
on their own.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

from deployconsole.core.groups import ErrorGroup
from deployconsole.core.health import HealthSample
from deployconsole.core.logentry import LogRecord
from deployconsole.core.rollout_model import (
    Comparison,
    Figures,
    GuardConfigError,
    GuardSettings,
    NewGroup,
)
from deployconsole.core.split import Split, decimals_for, format_fraction

# How many tracebacks a failed step reports.
REPORTED_TRACEBACKS = 3


class RolloutSignals(Protocol):
    """What the guard reads from the live log pipeline.

    :class:`deployconsole.core.ingest.IngestPipeline` has exactly these, so
    the GUI's pipeline and the CLI's own one both serve.
    """

    def window(
        self, service: str, version: str, seconds: float, now: float | None = None
    ) -> HealthSample: ...

    def groups(self) -> list[ErrorGroup]: ...

    def records(self) -> list[LogRecord]: ...


class PipelineWatch:
    """The smoke check's view of the candidate's logs, over the signals."""

    def __init__(self, signals: RolloutSignals, clock: _Clock) -> None:
        self.signals = signals
        self.clock = clock

    def requests_since(self, service: str, version: str, since: float) -> float:
        now = self.clock()
        seconds = max(1.0, now - since + 1.0)
        return self.signals.window(service, version, seconds, now).requests

    def tracebacks_since(
        self, service: str, version: str, since: float
    ) -> list[LogRecord]:
        return [
            record
            for record in self.signals.records()
            if record.tracebacks
            and record.service == service
            and record.version == version
            and record.timestamp is not None
            and record.timestamp >= since
        ]


class _Clock(Protocol):
    def __call__(self) -> float: ...


def step_split(before: Split, candidate: str, percent: float) -> Split:
    """The split giving ``candidate`` ``percent`` of the traffic and the rest
    to the other versions of ``before`` in their proportions.

    The candidate's share is exact; the rest is rounded to the decimals the
    sharding allows by largest remainder, so the sum is exactly 1. A
    baseline version whose share rounds to nothing is left out.

    Raises:
        GuardConfigError: the share needs more decimals than the sharding
            takes, or there is no other version to keep the rest.
    """
    places = decimals_for(before.shard_by)
    scale = 10**places
    exact = percent / 100 * scale
    units = round(exact)
    if abs(units - exact) > 1e-6 or units <= 0:
        raise GuardConfigError(
            f"A step of {percent:g}% needs more than {places} decimals, the most "
            f"App Engine takes when splitting by {before.shard_by.label}; use "
            "whole percents."
        )
    if units == scale:
        return Split.of({candidate: 1.0}, before.shard_by)
    baseline = {v: a for v, a in before.allocations if v != candidate and a > 0}
    if not baseline:
        raise GuardConfigError(
            f"{candidate} already serves all the traffic; there is no baseline "
            "to keep the rest."
        )
    rest = scale - units
    total = sum(baseline.values())
    shares = {v: a / total * rest for v, a in baseline.items()}
    whole = {v: math.floor(s) for v, s in shares.items()}
    left = rest - sum(whole.values())
    by_remainder = sorted(shares, key=lambda v: (-(shares[v] - whole[v]), v))
    for version in by_remainder[:left]:
        whole[version] += 1
    allocations = {v: u / scale for v, u in whole.items() if u > 0}
    allocations[candidate] = units / scale
    return Split.of(allocations, before.shard_by)


def baseline_versions(before: Split, candidate: str) -> tuple[str, ...]:
    return tuple(v for v, a in before.allocations if v != candidate and a > 0)


def _figures(samples: Sequence[HealthSample]) -> Figures:
    requests = sum(sample.requests for sample in samples)
    errors = sum(sample.errors for sample in samples)
    p95s = [s.latency_p95 for s in samples if s.latency_p95 is not None]
    return Figures(requests, errors, max(p95s) if p95s else None)


def new_groups(
    groups: Sequence[ErrorGroup],
    service: str,
    candidate: str,
    baseline: Sequence[str],
) -> list[ErrorGroup]:
    """Error groups first seen in the candidate and never in the baseline."""
    found = []
    for group in groups:
        if group.first_version != candidate or service not in group.services:
            continue
        if set(group.versions) & set(baseline):
            continue
        found.append(group)
    found.sort(key=lambda g: (-g.count, g.fingerprint))
    return found


def compare(
    signals: RolloutSignals,
    settings: GuardSettings,
    service: str,
    candidate: str,
    baseline: Sequence[str],
    since: float,
    now: float,
) -> Comparison:
    """Candidate against baseline from ``since`` (at most the settings'
    window) to ``now``, and whether the step fails."""
    # FIXME(log-lag): the window ends at ``now``, but a request is logged
    # when it completes and reaches the tail a moment later, so its last
    # seconds are always thin; with holds of a few seconds (tests) a step
    # can pass before a slow failing request shows up.
    seconds = max(1.0, min(now - since, settings.window))
    start = now - seconds
    candidate_figures = _figures([signals.window(service, candidate, seconds, now)])
    baseline_figures = _figures(
        [signals.window(service, version, seconds, now) for version in baseline]
    )
    fresh = new_groups(signals.groups(), service, candidate, baseline)
    failures: list[str] = []
    notes: list[str] = []

    ratio, limit = candidate_figures.ratio, settings.max_error_ratio
    relative = baseline_figures.ratio * settings.factor
    if candidate_figures.requests < settings.min_requests:
        notes.append(
            f"{candidate} served {candidate_figures.requests:.0f} requests, fewer "
            f"than the {settings.min_requests} needed to judge its error ratio."
        )
    elif ratio > limit and ratio > relative:
        failures.append(
            f"{candidate}'s 5xx ratio is {ratio:.1%} ({candidate_figures.errors:.0f} "
            f"of {candidate_figures.requests:.0f} requests), above "
            f"{format_fraction(limit)} and above {settings.factor:g}× the "
            f"baseline's {baseline_figures.ratio:.1%}"
        )
    reported = []
    for group in fresh:
        reported.append(
            NewGroup(
                group.fingerprint, group.latest.headline(), group.count,
                group.first_seen, group.latest.format(),
            )
        )
        if group.count >= settings.new_group_count:
            times = "once" if group.count == 1 else f"{group.count} times"
            failures.append(
                f"{candidate} logged an error the baseline never did ({times}): "
                f"{group.latest.headline()}"
            )
    return Comparison(
        now, start, candidate_figures, baseline_figures, tuple(reported),
        tuple(failures), tuple(notes),
    )


def failure_tracebacks(
    comparison: Comparison, signals: RolloutSignals, service: str, candidate: str
) -> tuple[str, ...]:
    """The tracebacks to report with a failed step: the new groups that
    failed it, else the candidate's biggest error groups."""
    texts = [g.traceback for g in comparison.new_groups if g.traceback]
    if not texts:
        ranked = [
            group for group in signals.groups()
            if candidate in group.versions and service in group.services
        ]
        texts = [group.latest.format() for group in ranked]
    return tuple(texts[:REPORTED_TRACEBACKS])
