"""A service's traffic history from two sources, merged into one.

The journal knows what this console did (with the split before, and how it
ended); the Cloud Audit Log knows every UpdateService call whoever made it
(``gcloud app deploy``, the web console, another deployconsole). A change
made here shows up in both: the two records are joined by operation name,
or failing that by service, requested split and time, so it is listed once.

Rolling back means restoring the split that was live before the latest
change that took effect, wherever that change came from.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from enum import Enum

from deployconsole.core.journal import JournalRow
from deployconsole.core.split import Split

# A journal row and an audit entry of the same change are this close in time
# (the entry is written when the server accepts the request).
MATCH_WINDOW = timedelta(seconds=120)
CLOCK_SLACK = timedelta(seconds=10)

_JOURNAL_APPLIED = ("succeeded",)
# Rows of actions that sent nothing are journal-only; they are not changes.
_JOURNAL_NOTHING_SENT = (
    "refused", "changed-since-shown", "unreachable", "permission", "cancelled"
)


@dataclass(frozen=True)
class AuditChange:
    """One UpdateService call that changed a split, from the audit log.

    Attributes:
        time: when App Engine accepted it (UTC).
        who: the caller's principal email.
        project, service_id: where.
        requested: the split the call asked for.
        migrate: whether it asked for gradual migration.
        before: the split before it, when the entry records it.
        operation_name: the long-running operation, when the entry names it.
        failed: True when the call failed, or its operation ended in error
            (said by the operation's last audit entry).
        insert_id: the log entry's id.
    """

    time: datetime
    who: str
    project: str
    service_id: str
    requested: Split
    migrate: bool = False
    before: Split | None = None
    operation_name: str = ""
    failed: bool = False
    insert_id: str = ""


class Source(str, Enum):
    JOURNAL = "journal"
    AUDIT_LOG = "audit-log"
    BOTH = "journal+audit-log"


@dataclass(frozen=True)
class TrafficChange:
    """One entry of a service's traffic history.

    Attributes:
        time: when it happened (UTC).
        who: who made it.
        service_id: the service.
        before: the split before, when known.
        after: the split it set (the journal's read-back when it has one).
        migrate: whether it was a gradual migration.
        applied: whether it took effect.
        outcome: ``succeeded``/``failed``/... or ``accepted`` for audit-only.
        source: where the entry came from.
        operation_name: the long-running operation, when known.
        action: what the console called it (``set-traffic``, ``rollback``),
            or ``UpdateService`` for changes made elsewhere.
        error: why it did not succeed, when it did not.
    """

    time: datetime
    who: str
    service_id: str
    before: Split | None
    after: Split
    migrate: bool
    applied: bool
    outcome: str
    source: Source
    operation_name: str = ""
    action: str = "UpdateService"
    error: str = ""

    def to_json(self) -> dict[str, object]:
        return {
            "time": self.time.isoformat(),
            "who": self.who,
            "service": self.service_id,
            "before": self.before.to_json() if self.before else None,
            "after": self.after.to_json(),
            "migrate": self.migrate,
            "applied": self.applied,
            "outcome": self.outcome,
            "source": self.source.value,
            "operation_name": self.operation_name,
            "action": self.action,
            "error": self.error,
        }


def _from_journal(row: JournalRow, audit: AuditChange | None) -> TrafficChange:
    after = row.split_after or row.split_requested
    assert after is not None  # callers only pass rows with a split
    if row.outcome in _JOURNAL_APPLIED and row.split_requested is not None:
        # The read-back can differ from the request when someone else changed
        # the split in between; the history names what this action set.
        after = row.split_requested
    return TrafficChange(
        time=row.time,
        who=audit.who if audit is not None else row.identity,
        service_id=row.service,
        before=row.split_before,
        after=after,
        migrate=row.migrate,
        applied=row.outcome in _JOURNAL_APPLIED,
        outcome=row.outcome,
        source=Source.BOTH if audit is not None else Source.JOURNAL,
        operation_name=row.operation_name or (audit.operation_name if audit else ""),
        action=row.action,
        error=row.error,
    )


def _from_audit(change: AuditChange) -> TrafficChange:
    return TrafficChange(
        time=change.time,
        who=change.who,
        service_id=change.service_id,
        before=change.before,
        after=change.requested,
        migrate=change.migrate,
        applied=not change.failed,
        outcome="failed" if change.failed else "accepted",
        source=Source.AUDIT_LOG,
        operation_name=change.operation_name,
    )


def _close_in_time(row: JournalRow, change: AuditChange) -> bool:
    # The entry is written once the server accepts the request, after the
    # row's start time; a little slack allows for the two clocks differing.
    delta = change.time - row.time
    return -CLOCK_SLACK <= delta <= MATCH_WINDOW


def _find_match(row: JournalRow, candidates: list[AuditChange]) -> AuditChange | None:
    """The audit entry of the same change: by operation name when both have
    one, else the closest in time with the same service and split."""
    if row.operation_name:
        for change in candidates:
            if change.operation_name == row.operation_name:
                return change
    requested = row.split_requested
    if requested is None:
        return None
    similar = [
        change
        for change in candidates
        if not (row.operation_name and change.operation_name)
        and change.service_id == row.service
        and change.requested.matches(requested)
        and _close_in_time(row, change)
    ]
    return min(similar, key=lambda c: abs(c.time - row.time), default=None)


def merge(
    journal_rows: Iterable[JournalRow],
    audit_changes: Iterable[AuditChange],
    *,
    include_unsent: bool = False,
) -> list[TrafficChange]:
    """The traffic history, oldest first.

    ``journal_rows`` of actions that sent nothing (refused, changed since
    shown...) are left out unless ``include_unsent``: they changed nothing.
    Rows of non-traffic actions (no requested split) are always left out.
    """
    unmatched = sorted(audit_changes, key=lambda c: c.time)
    rows = [
        row
        for row in journal_rows
        if row.split_requested is not None
        and (include_unsent or row.outcome not in _JOURNAL_NOTHING_SENT)
    ]
    # Rows naming their operation claim their entries first, so that the
    # looser match by split and time cannot take an entry that is theirs.
    rows.sort(key=lambda row: not row.operation_name)
    merged: list[TrafficChange] = []
    for row in rows:
        match = None
        if row.outcome not in _JOURNAL_NOTHING_SENT:
            match = _find_match(row, unmatched)
        if match is not None:
            unmatched.remove(match)
        merged.append(_from_journal(row, match))
    merged.extend(_from_audit(change) for change in unmatched)
    merged.sort(key=lambda change: change.time)
    return merged


def applied_changes(history: Sequence[TrafficChange]) -> list[TrafficChange]:
    """The changes that took effect, oldest first."""
    return [change for change in history if change.applied]


class RollbackError(Exception):
    """No split to roll back to; the message says why in plain words."""


@dataclass(frozen=True)
class RollbackTarget:
    """The split to restore and the change it undoes."""

    split: Split
    undoes: TrafficChange


def rollback_target(
    service_id: str, history: Sequence[TrafficChange], live: Split
) -> RollbackTarget:
    """The split that was live before the latest change of the service.

    That change's own record of the split before it is used when there is
    one (the journal's, or the audit entry's original state); otherwise the
    split set by the change before it.

    Raises:
        RollbackError: no change is known, the split before it is not, or
            the service already serves that split.
    """
    applied = [c for c in applied_changes(history) if c.service_id == service_id]
    if not applied:
        raise RollbackError(
            f"No traffic change of service {service_id} is recorded in the "
            "journal or the audit log, so there is nothing to roll back to."
        )
    latest = applied[-1]
    when = latest.time.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    # FIXME(rollback): a service's first split comes with its first deploy
    # (CreateVersion), not an UpdateService call; when the latest change does
    # not record what was before it and is the only one known (or older ones
    # are past the audit log's lookback), there is no target.
    if latest.before is not None and latest.before.allocations:
        target = latest.before
    elif len(applied) >= 2:
        target = applied[-2].after
    else:
        raise RollbackError(
            f"The latest traffic change of {service_id} ({latest.who}, {when}) "
            "does not record the split before it, and no earlier change is "
            "known; choose the versions to send traffic to instead."
        )
    if target.matches(live):
        raise RollbackError(
            f"{service_id} already serves the split from before its latest "
            f"change ({latest.who}, {when}): {live.describe()}."
        )
    return RollbackTarget(target, latest)
