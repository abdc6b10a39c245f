"""The incident timeline: what happened to a service, in order, with times.

Events come from everywhere the console looks: deploys (versions' create
times), traffic changes (the journal and the audit log, merged), alerts,
error groups seen for the first time, and guarded rollouts (their steps,
smoke checks and rollbacks). Each source has its ``add_*`` method; the
timeline sorts them by time and keeps them as plain values, so the GUI,
the report and ``--json`` read the same thing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import Enum
from typing import Any

from deployconsole.core.alerts import Alert
from deployconsole.core.appmodel import VersionInfo
from deployconsole.core.groups import ErrorGroup
from deployconsole.core.history import TrafficChange
from deployconsole.core.rollout_model import EventKind, GuardEvent
from deployconsole.core.rollout_store import StoredEvent


class TimelineKind(str, Enum):
    DEPLOY = "deploy"
    TRAFFIC = "traffic-change"
    ALERT = "alert"
    ERROR_GROUP = "new-error-group"
    GUARD = "guard"  # a guarded rollout began, smoke-checked, ended
    GUARD_STEP = "guard-step"
    GUARD_ROLLBACK = "guard-rollback"

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    TimelineKind.DEPLOY: "Deploy",
    TimelineKind.TRAFFIC: "Traffic change",
    TimelineKind.ALERT: "Alert",
    TimelineKind.ERROR_GROUP: "New error",
    TimelineKind.GUARD: "Guard",
    TimelineKind.GUARD_STEP: "Guard step",
    TimelineKind.GUARD_ROLLBACK: "Guard rollback",
}


@dataclass(frozen=True)
class TimelineEvent:
    """One thing that happened.

    Attributes:
        at: when (epoch seconds).
        kind: what sort of thing.
        message: a sentence saying what.
        service, version: what it concerns ("" when not one version).
        who: who did it, when a person or account did.
    """

    at: float
    kind: TimelineKind
    message: str
    service: str = ""
    version: str = ""
    who: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "time": utc_text(self.at),
            "kind": self.kind.value,
            "message": self.message,
            "service": self.service,
            "version": self.version,
            "who": self.who,
        }


def utc_text(seconds: float) -> str:
    """``2026-12-03T14:02:10Z``."""
    return datetime.fromtimestamp(seconds, timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )


class Timeline:
    """Events from every source, oldest first."""

    def __init__(self, events: Iterable[TimelineEvent] = ()) -> None:
        self._events: list[TimelineEvent] = list(events)

    def __len__(self) -> int:
        return len(self._events)

    def add(self, event: TimelineEvent) -> None:
        self._events.append(event)

    def events(
        self, since: float | None = None, until: float | None = None
    ) -> list[TimelineEvent]:
        """Events in ``[since, until]``, by time (ties keep arrival order)."""
        chosen = [
            event for event in self._events
            if (since is None or event.at >= since)
            and (until is None or event.at <= until)
        ]
        return sorted(chosen, key=lambda event: event.at)

    def to_json(self) -> list[dict[str, Any]]:
        return [event.to_json() for event in self.events()]

    # -- sources -------------------------------------------------------------

    def add_deploys(self, versions: Iterable[VersionInfo]) -> None:
        """A deploy for every version with a create time."""
        for version in versions:
            if version.create_time is None:
                continue
            who = version.created_by or "someone"
            self.add(TimelineEvent(
                version.create_time.timestamp(), TimelineKind.DEPLOY,
                f"{who} deployed {version.id} of {version.service_id} "
                f"({version.runtime}).",
                version.service_id, version.id, version.created_by,
            ))

    def add_traffic_changes(
        self, changes: Iterable[TrafficChange], *, skip_guard: bool = False
    ) -> None:
        """Traffic changes that took effect or failed after being sent.

        ``skip_guard`` leaves out the guard's own changes, for a timeline
        that has the guard's events (which say the same, with reasons).
        """
        for change in changes:
            if skip_guard and change.action.startswith("guard-"):
                continue
            if change.applied:
                text = f"{change.who} set the split of {change.service_id} to "
                text += f"{change.after.describe()}"
            else:
                text = f"{change.who} tried to set the split of "
                text += f"{change.service_id} to {change.after.describe()} "
                text += f"({change.outcome}"
                text += f": {change.error})" if change.error else ")"
            if change.before is not None and change.applied:
                text += f", from {change.before.describe()}"
            self.add(TimelineEvent(
                change.time.timestamp(), TimelineKind.TRAFFIC, text + ".",
                change.service_id, "", change.who,
            ))

    def add_alerts(self, alerts: Iterable[Alert]) -> None:
        for alert in alerts:
            self.add(TimelineEvent(
                alert.at, TimelineKind.ALERT, alert.message + ".",
                alert.service, alert.version,
            ))

    def add_error_groups(self, groups: Iterable[ErrorGroup]) -> None:
        """When each error group was first seen, and in which version."""
        for group in groups:
            if group.first_seen is None:
                continue
            self.add(TimelineEvent(
                group.first_seen, TimelineKind.ERROR_GROUP,
                f"First {group.latest.headline()} in {group.first_version} "
                f"({group.count} so far).",
                ",".join(group.services), group.first_version,
            ))

    def add_guard_events(
        self, events: Iterable[GuardEvent | StoredEvent], service: str, version: str
    ) -> None:
        """A guarded rollout's stored timeline (comparisons left out)."""
        for event in events:
            if isinstance(event, GuardEvent):
                kind, state, at = event.kind.value, event.state.value, event.at
                message = event.message
            else:
                kind, state, at, message = event.kind, event.state, event.at, (
                    event.message
                )
            if kind in (EventKind.COMPARISON.value, EventKind.PROGRESS.value):
                continue
            if not message:
                continue
            self.add(TimelineEvent(
                at, _guard_kind(kind, state), message, service, version
            ))


def _guard_kind(kind: str, state: str) -> TimelineKind:
    if state == "rolling-back" or (kind == EventKind.TRAFFIC.value):
        return TimelineKind.GUARD_ROLLBACK
    if kind == EventKind.STEP.value:
        return TimelineKind.GUARD_STEP
    return TimelineKind.GUARD
