"""The incident report: a Markdown draft in the DERP form.

Detection, Escalation, Remediation, Prevention: the console fills in what
the logs, the journal, the audit log and the guard know (the timeline, the
impact, the top tracebacks, when the first error came and when traffic
moved away from it) and leaves what only people know as prompts marked
``TODO``, so a draft is never mistaken for a finished report.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from deployconsole.core.groups import ErrorGroup
from deployconsole.core.history import TrafficChange, applied_changes
from deployconsole.core.logentry import KIND_REQUEST, LogRecord
from deployconsole.core.split import Split, format_fraction
from deployconsole.core.timeline import Timeline, TimelineEvent, TimelineKind

TOP_TRACEBACKS = 3
TODO = "**TODO (people):**"


@dataclass(frozen=True)
class VersionImpact:
    """One version's errors in the window.

    ``share`` is the largest share of the traffic it had while its errors
    went on, as the traffic history tells (None: not known).
    """

    version: str
    failed_requests: int
    tracebacks: int
    first_error: float | None
    last_error: float | None
    share: float | None = None


@dataclass(frozen=True)
class Impact:
    """What the errors cost.

    Attributes:
        failed_requests: request logs that answered 5xx.
        tracebacks: tracebacks logged.
        first_error, last_error: epoch seconds (None without errors).
        versions: per version with errors, the most errors first.
    """

    failed_requests: int = 0
    tracebacks: int = 0
    first_error: float | None = None
    last_error: float | None = None
    versions: tuple[VersionImpact, ...] = ()

    @property
    def duration(self) -> float:
        if self.first_error is None or self.last_error is None:
            return 0.0
        return self.last_error - self.first_error

    @property
    def worst(self) -> VersionImpact | None:
        return self.versions[0] if self.versions else None


def split_at(
    moment: float, changes: Sequence[TrafficChange], live: Split | None
) -> Split | None:
    """The split live at ``moment`` by the traffic history (``live`` when no
    change is known around it)."""
    applied = sorted(applied_changes(changes), key=lambda c: c.time)
    before = [c for c in applied if c.time.timestamp() <= moment]
    if before:
        return before[-1].after
    if applied:
        return applied[0].before
    return live


def measure_impact(
    records: Iterable[LogRecord],
    changes: Sequence[TrafficChange],
    live: Split | None,
) -> Impact:
    """The impact of the errors in ``records`` (one service's)."""
    tally: dict[str, list[Any]] = {}  # version -> [5xx, tracebacks, first, last]
    for record in records:
        is_5xx = record.kind == KIND_REQUEST and (record.status or 0) >= 500
        if not is_5xx and not record.tracebacks:
            continue
        counts = tally.setdefault(record.version, [0, 0, None, None])
        counts[0] += is_5xx
        counts[1] += len(record.tracebacks)
        at = record.timestamp
        if at is not None:
            counts[2] = at if counts[2] is None else min(counts[2], at)
            counts[3] = at if counts[3] is None else max(counts[3], at)
    versions = []
    for version, (failed, tracebacks, first, last) in tally.items():
        versions.append(VersionImpact(
            version, failed, tracebacks, first, last,
            _largest_share(version, first, last, changes, live),
        ))
    versions.sort(key=lambda v: (-(v.failed_requests + v.tracebacks), v.version))
    firsts = [v.first_error for v in versions if v.first_error is not None]
    lasts = [v.last_error for v in versions if v.last_error is not None]
    return Impact(
        sum(v.failed_requests for v in versions),
        sum(v.tracebacks for v in versions),
        min(firsts, default=None), max(lasts, default=None), tuple(versions),
    )


def _largest_share(
    version: str,
    first: float | None,
    last: float | None,
    changes: Sequence[TrafficChange],
    live: Split | None,
) -> float | None:
    if first is None or last is None:
        return None
    splits = [split_at(first, changes, live)] + [
        change.after for change in applied_changes(changes)
        if first < change.time.timestamp() <= last
    ]
    known = [s for s in splits if s is not None]
    if not known:
        return None
    return max(s.allocation(version) for s in known)


@dataclass(frozen=True)
class Incident:
    """Everything the draft is written from.

    Attributes:
        project, service: where.
        since, until: the window looked at (epoch seconds).
        timeline: every event in it.
        impact: what the errors cost.
        groups: the error groups, biggest first.
        changes: the service's traffic history (for the remediation).
        notes: limits of what was read ("only the first 10,000 entries").
        drafted_at: when the draft was written.
    """

    project: str
    service: str
    since: float
    until: float
    timeline: Timeline
    impact: Impact
    groups: tuple[ErrorGroup, ...] = ()
    changes: tuple[TrafficChange, ...] = ()
    notes: tuple[str, ...] = ()
    drafted_at: float = field(default_factory=time.time)


def _when(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    moment = datetime.fromtimestamp(seconds, timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _span(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, rest = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {rest} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def mitigated_at(incident: Incident) -> TrafficChange | None:
    """The first traffic change after the first error of the version with
    the most errors that took all the traffic away from it."""
    worst = incident.impact.worst
    if worst is None or worst.first_error is None:
        return None
    for change in sorted(applied_changes(incident.changes), key=lambda c: c.time):
        if change.time.timestamp() < worst.first_error:
            continue
        if change.after.allocation(worst.version) == 0:
            return change
    return None


def draft_report(incident: Incident, top: int = TOP_TRACEBACKS) -> str:
    """The Markdown draft."""
    lines = [
        f"# Incident report (draft): {incident.service} in {incident.project}",
        "",
        f"> Drafted by deployconsole at {_when(incident.drafted_at)} from the "
        "logs, the audit log, the console's journal and its guarded rollouts "
        f"between {_when(incident.since)} and {_when(incident.until)}. Lines "
        f"marked {TODO} need a person; everything else was measured.",
    ]
    lines += [f"> Note: {note}" for note in incident.notes]
    lines += ["", *_summary(incident), "", *_timeline(incident)]
    lines += ["", *_detection(incident), "", *_escalation()]
    lines += ["", *_remediation(incident), "", *_prevention(incident)]
    lines += ["", *_tracebacks(incident.groups[:top], len(incident.groups))]
    return "\n".join(lines).rstrip() + "\n"


def _summary(incident: Incident) -> list[str]:
    impact = incident.impact
    lines = ["## Summary", "", f"- {TODO} What happened, in two sentences."]
    if impact.first_error is None:
        lines.append("- **Impact:** no 5xx responses or tracebacks in the window.")
        return lines
    lines += [
        f"- **Impact:** {impact.failed_requests} requests failed with 5xx and "
        f"{impact.tracebacks} tracebacks were logged between "
        f"{_when(impact.first_error)} and {_when(impact.last_error)} "
        f"({_span(impact.duration)}).",
        f"- **Error groups:** {len(incident.groups)}.",
        "- **Versions with errors:**",
    ]
    for version in impact.versions:
        share = (
            f", up to {format_fraction(version.share)} of the traffic"
            if version.share is not None else ""
        )
        span = _span((version.last_error or 0) - (version.first_error or 0))
        lines.append(
            f"  - {version.version or 'unknown'}: {version.failed_requests} failed "
            f"requests, {version.tracebacks} tracebacks over {span}{share}."
        )
    return lines


def _timeline(incident: Incident) -> list[str]:
    events = incident.timeline.events(incident.since, incident.until)
    lines = ["## Timeline (UTC)", ""]
    if not events:
        return lines + ["Nothing was recorded in the window."]
    lines += ["| Time | What | Event |", "| --- | --- | --- |"]
    for event in events:
        moment = datetime.fromtimestamp(event.at, timezone.utc)
        lines.append(
            f"| {moment.strftime('%Y-%m-%d %H:%M:%S')} | {event.kind.label} | "
            f"{_cell(event.message)} |"
        )
    return lines


def _first(
    events: Sequence[TimelineEvent], *kinds: TimelineKind
) -> TimelineEvent | None:
    return next((event for event in events if event.kind in kinds), None)


def _detection(incident: Incident) -> list[str]:
    worst = incident.impact.worst
    lines = ["## Detection", ""]
    if worst is None or worst.first_error is None:
        return lines + [f"- {TODO} How was the problem noticed?"]
    first_signal = _first(
        incident.timeline.events(worst.first_error, incident.until),
        TimelineKind.ALERT, TimelineKind.GUARD_ROLLBACK,
    )
    lines.append(
        f"- First error of {worst.version or 'an unknown version'} (the version "
        f"with the most errors): {_when(worst.first_error)}."
    )
    if first_signal is not None:
        lines.append(
            f"- First alert: {_when(first_signal.at)}, "
            f"{_span(first_signal.at - worst.first_error)} later: "
            f"{first_signal.message}"
        )
    else:
        lines.append("- No alert or guard fired in the window.")
    lines.append(f"- {TODO} How did people learn of it, and was that fast enough?")
    return lines


def _escalation() -> list[str]:
    return [
        "## Escalation",
        "",
        f"- {TODO} Who was paged or told, when, and who took charge?",
        f"- {TODO} Was anyone outside the team (support, users) involved?",
    ]


def _remediation(incident: Incident) -> list[str]:
    worst = incident.impact.worst
    lines = ["## Remediation", ""]
    fix = mitigated_at(incident)
    if fix is not None and worst is not None and worst.first_error is not None:
        lines.append(
            f"- Traffic left {worst.version} at {_when(fix.time.timestamp())} "
            f"({fix.who}, {fix.action}): {fix.after.describe()}; "
            f"{_span(fix.time.timestamp() - worst.first_error)} after its first "
            "error."
        )
    elif worst is not None:
        lines.append(
            "- No traffic change in the window took the traffic away from "
            f"{worst.version or 'the failing version'}."
        )
    lines.append(f"- {TODO} What else was done, and what was tried that did not help?")
    return lines


def _prevention(incident: Incident) -> list[str]:
    lines = [
        "## Prevention",
        "",
        f"- {TODO} Why did it happen (the root cause, not the trigger)?",
        f"- {TODO} What will keep it from happening again? Who owns each item?",
    ]
    guarded = any(
        event.kind in (TimelineKind.GUARD, TimelineKind.GUARD_STEP)
        for event in incident.timeline.events()
    )
    if incident.impact.first_error is not None and not guarded:
        lines.append(
            "- Consider rolling out with `deployconsole guard`: a smoke check "
            "and traffic in steps roll a bad version back by themselves."
        )
    return lines


def _tracebacks(groups: Sequence[ErrorGroup], total: int) -> list[str]:
    lines = ["## Top tracebacks", ""]
    if not groups:
        return lines + ["No tracebacks were logged in the window."]
    if total > len(groups):
        lines += [f"The {len(groups)} biggest of {total} error groups.", ""]
    for number, group in enumerate(groups, 1):
        versions = ", ".join(group.versions) or "unknown"
        lines += [
            f"### {number}. `{group.latest.headline()}`",
            "",
            f"{group.count} times in {versions}; first seen "
            f"{_when(group.first_seen)} in {group.first_version or 'unknown'}, "
            f"last {_when(group.last_seen)}. Fingerprint `{group.fingerprint}`.",
            "",
            "```",
            group.latest.format(),
            "```",
            "",
        ]
    return lines
