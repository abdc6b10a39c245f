"""The guarded rollout: smoke check, traffic in steps, rollback by itself.

A :class:`RolloutGuard` moves one service's traffic to a candidate version
through an explicit state machine::

    PENDING → SMOKE → SHIFTING → HOLDING → SHIFTING → ... → PROMOTED
                │                   │  ↕ PAUSED
                ↓                   ↓
            REJECTED          ROLLING_BACK → ROLLED_BACK / ABORTED / BROKEN

Each step gives the candidate a share of the traffic (the rest goes to the
baseline versions, those with traffic before, in their proportions) and
holds it while the candidate is compared with the baseline over the same
window (see :mod:`deployconsole.core.rollout_rules`). A failed step, a
failed traffic change or an abort restores the split from before the guard
began, in one change, through the same :class:`TrafficController` as every
other traffic change (so it is read back and journaled).

Driving it: :meth:`start` runs it on its own daemon thread, ticking every
``poll_seconds`` and at once after a command; or call :meth:`tick` yourself
(tests do). A tick does one piece of work and may block while a smoke check
runs (bounded by its timeouts) or a traffic change finishes. The commands
:meth:`pause`, :meth:`resume`, :meth:`promote_now` and :meth:`abort` may be
called from any thread; they take effect at the next tick, and abort and
promote-now also cut a running smoke check short. Listeners given to
:meth:`subscribe` are called on the ticking thread with each
:class:`GuardEvent`; the GUI re-emits them as signals.

Every state change is written to the :class:`RolloutStore` before the work
it announces, so a console that dies leaves a record the next one can
resume or abort (:meth:`RolloutGuard.adopt`).
"""

from __future__ import annotations

import logging

from deployconsole.core.rollout_model import EventKind, GuardConfigError, GuardState
from deployconsole.core.rollout_rules import baseline_versions, step_split
from deployconsole.core.rollout_steps import GuardSteps
from deployconsole.core.rollout_store import DEFAULT_STALE_AFTER, RolloutRecord
from deployconsole.core.split import Split

log = logging.getLogger("deployconsole.rollout")


class RolloutGuard(GuardSteps):
    """One guarded rollout of ``candidate`` in ``service``; see the module doc.

    Construct it (arguments as :class:`~deployconsole.core.rollout_base.
    GuardBase`), then :meth:`prepare` a new rollout or :meth:`adopt` an
    unfinished one, then :meth:`start` or :meth:`tick` it.
    """

    def prepare(self) -> None:
        """Read the service, check the rollout can be done, and record it.

        Raises:
            GuardConfigError: the candidate cannot be rolled out as asked.
            RolloutBusy: an unfinished rollout of the service is recorded.
            AdminError: App Engine could not be read.
        """
        with self._lock:
            backend = self.traffic.backend
            before = backend.get_service(self.service).split
            versions = backend.list_versions(self.service, with_instances=False)
            self._target = self._check_target(versions)
            self._baseline = baseline_versions(before, self.candidate)
            if not self._baseline:
                raise GuardConfigError(
                    f"{self.candidate} already serves all the traffic of "
                    f"{self.service}; there is nothing to roll out."
                )
            for percent in self.settings.steps:
                step_split(before, self.candidate, percent)
            share = before.allocation(self.candidate) * 100
            # A candidate that has some traffic already starts at its share.
            self._next_index = next(
                i for i, p in enumerate(self.settings.steps) if p >= share - 1e-9
            )
            self._before = self._live = before
            if self.store is not None:
                self.record = self.store.begin(
                    project=self.traffic.project, service=self.service,
                    candidate=self.candidate, identity=self.traffic.identity,
                    owner=self.owner, split_before=before,
                    settings=self.settings.to_json(), now=self.clock(),
                )
            self._emit(
                EventKind.STATE, f"Guarded rollout of {self.candidate} in "
                f"{self.service} begins; baseline {before.describe()}; "
                f"{self.settings.describe()}.",
            )

    # -- recovery ------------------------------------------------------------

    def adopt(
        self,
        record: RolloutRecord,
        action: str,
        *,
        force: bool = False,
        stale_after: float = DEFAULT_STALE_AFTER,
    ) -> None:
        """Take over an unfinished rollout a stopped console left, instead of
        :meth:`prepare`: ``resume`` it or ``abort`` it (restore the split
        from before it).

        Resuming holds the step whose split is live again from the start,
        or starts the steps over when the split from before is live.

        Raises:
            GuardConfigError: it ended already, another console still runs
                it, or the split was changed outside the guard since.
            AdminError: App Engine could not be read.
        """
        if action not in ("resume", "abort"):
            raise ValueError(f"action must be resume or abort, not {action!r}")
        with self._lock:
            self._take_over(record, force, stale_after)
            backend = self.traffic.backend
            live = backend.get_service(self.service).split
            before = record.split_before
            self._before, self._live = before, live
            self._baseline = baseline_versions(before, self.candidate)
            self._traffic_moved = not live.matches(before)
            self._index = record.step if self._traffic_moved else -1
            was = f"{record.state.value} at step {record.step + 1}"
            if action == "abort" or record.state in (
                GuardState.ROLLING_BACK, GuardState.BROKEN
            ):
                final = GuardState.ABORTED if action == "abort" else (
                    GuardState.ROLLED_BACK
                )
                verb = "Aborting" if action == "abort" else "Finishing the rollback of"
                self._fail(
                    f"{verb} the unfinished rollout {record.id} (it was {was}, "
                    f"started by {record.identity}). {record.reason}".strip(),
                    final,
                )
                return
            versions = backend.list_versions(self.service, with_instances=False)
            self._target = self._check_target(versions)
            self._resume_at(record, live, was)

    def _take_over(self, record: RolloutRecord, force: bool, stale: float) -> None:
        if not record.unfinished:
            raise GuardConfigError(
                f"Rollout {record.id} of {record.candidate} already ended "
                f"({record.state.value})."
            )
        now = self.clock()
        if self.store is not None and not self.store.take_over(
            record.id, self.owner, now, 0.0 if force else stale
        ):
            raise GuardConfigError(
                f"Rollout {record.id} of {record.candidate} is still run by "
                f"another console ({record.owner}, heard from "
                f"{now - record.heartbeat:.0f} s ago); wait {stale:.0f} s after "
                "it stops, or force the takeover."
            )
        self.record = record

    def _resume_at(self, record: RolloutRecord, live: Split, was: str) -> None:
        assert self._before is not None
        steps = self.settings.steps
        matching = [
            i for i, percent in enumerate(steps)
            if step_split(self._before, self.candidate, percent).matches(live)
        ]
        resumed = f"Resumed the unfinished rollout {record.id} (it was {was})"
        if matching:
            self._index = matching[-1]
            self._step_started = self.clock()
            self._set_state(
                GuardState.HOLDING, f"{resumed}: step {self._index + 1} is live and "
                "its hold starts again.",
            )
        elif not live.matches(self._before):
            raise GuardConfigError(
                f"The split of {self.service} is now {live.describe()}: neither the "
                f"split from before rollout {record.id} ({self._before.describe()}) "
                "nor one of its steps, so it was changed outside the guard. Abort "
                "the rollout to restore the split from before, or leave it."
            )
        elif record.step < 0 and record.state in (GuardState.PENDING, GuardState.SMOKE):
            self._set_state(GuardState.PENDING, f"{resumed}: starting over.")
        else:
            self._next_index = 0
            self._set_state(
                GuardState.SHIFTING, f"{resumed}: no step is live; the steps start "
                "over.",
            )
