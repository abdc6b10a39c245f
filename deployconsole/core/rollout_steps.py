"""The guarded rollout's states: what each tick does in each of them.

See :mod:`deployconsole.core.rollout` for the machine as a whole; this
module holds the work of each state (smoke check, shifting traffic to a
step, holding it while comparing, restoring), and
:mod:`deployconsole.core.rollout_base` the plumbing they share.
"""

from __future__ import annotations

import logging

from deployconsole.core.appmodel import VersionInfo
from deployconsole.core.operations import AdminError, Outcome, OutcomeStatus
from deployconsole.core.rollout_base import GuardBase
from deployconsole.core.rollout_model import (
    EventKind,
    GuardConfigError,
    GuardState,
    describe_share,
)
from deployconsole.core.rollout_restore import Restorer
from deployconsole.core.rollout_rules import (
    REPORTED_TRACEBACKS,
    PipelineWatch,
    compare,
    failure_tracebacks,
    new_groups,
    step_split,
)
from deployconsole.core.smoke import CheckResult, SmokeTarget
from deployconsole.core.traffic import TrafficPlan

log = logging.getLogger("deployconsole.rollout")


class GuardSteps(GuardBase):
    """The state handlers; :class:`~deployconsole.core.rollout.RolloutGuard`
    adds how a rollout begins or is taken over."""

    def _check_target(self, versions: list[VersionInfo]) -> VersionInfo:
        found = {version.id: version for version in versions}
        target = found.get(self.candidate)
        if target is None:
            raise GuardConfigError(
                f"There is no version {self.candidate} in service {self.service}."
            )
        if not target.serving:
            raise GuardConfigError(
                f"{self.candidate} is stopped; start it before rolling it out."
            )
        return target

    def tick(self) -> bool:
        """Do the next piece of work; False once the rollout has ended."""
        with self._lock:
            if self._state.final:
                return False
            if self._before is None:
                raise RuntimeError("prepare() the guard before running it")
            self._take_commands()
            state = self._state
            if state is GuardState.PENDING:
                self._begin()
            elif state is GuardState.SMOKE:
                self._smoke()
            elif state is GuardState.SHIFTING:
                self._shift()
            elif state in (GuardState.HOLDING, GuardState.PAUSED):
                self._hold()
            elif state is GuardState.ROLLING_BACK:
                self._restore()
            self._beat()
            return not self._state.final

    # -- the states --------------------------------------------------------

    def _begin(self) -> None:
        if self.settings.smoke is None:
            if self._pause_requested:
                self._set_state(GuardState.PAUSED, "Smoke check skipped; paused.")
                return
            self._set_state(GuardState.SHIFTING, "Smoke check skipped.")
        else:
            self._set_state(GuardState.SMOKE, f"Smoke check of {self.candidate}.")

    def _smoke(self) -> None:
        plan, target = self.settings.smoke, self._target
        assert plan is not None and target is not None
        smoke_target = SmokeTarget(
            self.service, self.candidate, target.version_url, target.warmup_enabled
        )
        result = self.smoke_runner.run(
            plan, smoke_target, PipelineWatch(self.signals, self.clock),
            cancel=self._interrupt, on_check=self._on_check,
        )
        if result.cancelled:
            self._take_commands()
            return
        if not result.passed:
            self._tracebacks = result.tracebacks
            self._finish(
                GuardState.REJECTED, f"{result.describe()} No traffic was moved."
            )
            return
        if self._pause_requested:
            self._paused_at = self.clock()
            self._set_state(GuardState.PAUSED, "Smoke check passed; paused.")
            return
        self._set_state(GuardState.SHIFTING, result.describe())

    def _on_check(self, check: CheckResult) -> None:
        self._checks.append(check)
        self._emit(EventKind.CHECK, f"Smoke: {check.message}", check=check)

    def _shift(self) -> None:
        assert self._before is not None and self._live is not None
        index = self._next_index
        steps = self.settings.steps
        percent = steps[index]
        target = step_split(self._before, self.candidate, percent)
        if self._index < 0 and not self._traffic_moved and self._known_bad():
            return
        if not self._persist(split_target=target):
            # Sending a step nobody could find after a crash is worse than
            # not rolling out.
            self._fail(
                f"Step {index + 1} was not sent: it could not be recorded first."
            )
            return
        description = (
            f"Guarded rollout of {self.candidate}: step {index + 1} of {len(steps)}, "
            f"{describe_share(percent)} of {self.service}"
        )
        try:
            plan = self.traffic.plan_split(
                self.service, target, action="guard-step", description=description
            )
        except AdminError as error:
            self._change_failed(index, error.message, error.kind.value)
            return
        if not plan.before.matches(self._live):
            self._finish(
                GuardState.INTERRUPTED,
                f"The split of {self.service} was changed outside the guard (it is "
                f"now {plan.before.describe()}, not {self._live.describe()}); the "
                "guard stopped and left traffic as it is.",
            )
            return
        outcome = self._apply(plan)
        server = outcome.server_split
        if outcome.succeeded and server is not None and server.matches(target):
            self._traffic_moved = True
            self._live = server
            self._index = index
            self._step_started = self.clock()
            self._paused_total = 0.0
            self._feed_down_since = None
            self._persist(split_live=server, state=GuardState.HOLDING)
            self._state = GuardState.HOLDING
            self._emit(
                EventKind.STEP, f"Step {index + 1} of {len(steps)}: "
                f"{self.candidate} gets {describe_share(percent)}; "
                f"{self.service} serves {server.describe()}.",
                split=server,
            )
            return
        if outcome.status is OutcomeStatus.CHANGED:
            self._finish(GuardState.INTERRUPTED, outcome.message)
            return
        # A failed change may or may not have taken effect: the read-back
        # says which (unreadable counts as moved, to be safe).
        if not outcome.nothing_sent and (
            server is None or not server.matches(self._live)
        ):
            self._traffic_moved = True
        if server is not None:
            self._live = server
        self._change_failed(index, outcome.message, outcome.status.value)

    def _known_bad(self) -> bool:
        """Reject before any traffic moves when the candidate has logged
        enough errors the baseline never did already (a smoke check, an
        earlier attempt); True if it did."""
        groups = new_groups(
            self.signals.groups(), self.service, self.candidate, self._baseline
        )
        bad = [g for g in groups if g.count >= self.settings.new_group_count]
        if not bad:
            return False
        self._tracebacks = tuple(g.latest.format() for g in bad[:REPORTED_TRACEBACKS])
        times = "once" if bad[0].count == 1 else f"{bad[0].count} times"
        self._finish(
            GuardState.REJECTED,
            f"{self.candidate} has logged an error the baseline never did "
            f"({times}) before getting any traffic: {bad[0].latest.headline()}. "
            "No traffic was moved.",
        )
        return True

    def _change_failed(self, index: int, message: str, kind: str) -> None:
        self._unreachable = kind in ("unreachable", "permission")
        self._fail(f"The traffic change for step {index + 1} failed: {message}")

    def _apply(self, plan: TrafficPlan) -> Outcome:
        operation = self.traffic.apply(
            plan,
            on_progress=lambda op, step: self._emit(
                EventKind.PROGRESS, step.message, store=False
            ),
        )
        outcome = operation.wait(self.operation_timeout)
        if outcome is None:
            return Outcome(
                OutcomeStatus.FAILED,
                f"{plan.description} did not finish within "
                f"{self.operation_timeout:g} s.",
            )
        return outcome

    def _hold(self) -> None:
        now = self.clock()
        if self._index >= 0 and not self._watch(now):
            return
        if self._pause_requested:
            if self._state is not GuardState.PAUSED:
                self._paused_at = now
                self._set_state(GuardState.PAUSED, "Paused by the user.")
            return
        if self._state is GuardState.PAUSED:
            if self._paused_at is not None:
                self._paused_total += now - self._paused_at
            self._paused_at = None
            self._set_state(GuardState.HOLDING, "Resumed by the user.")
        if self._index >= 0 and self._held(now) < self.settings.hold_seconds:
            return
        if self._index >= 0:
            self._steps_passed += 1
            comparison = self._comparison
            self._emit(
                EventKind.STEP, f"Step {self._index + 1} of "
                f"{len(self.settings.steps)} passed: "
                f"{comparison.describe() if comparison else 'no figures'}.",
                comparison=comparison,
            )
        if self._index == len(self.settings.steps) - 1:
            self._finish(
                GuardState.PROMOTED,
                f"{self.candidate} serves all the traffic of {self.service}.",
            )
            return
        if self._index >= 0:
            self._next_index = self._index + 1
        self._set_state(GuardState.SHIFTING, "")

    def _watch(self, now: float) -> bool:
        """Compare and fail the step if it must; False once it failed."""
        problem = self.feed_problem()
        if problem is not None:
            since = self._feed_down_since = self._feed_down_since or now
            if now - since >= self.settings.log_timeout:
                self._fail(
                    f"The log feed has been down for {now - since:.0f} s ({problem}), "
                    "so the candidate cannot be judged."
                )
                return False
        elif self._feed_down_since is not None:
            # Time without figures does not count towards the hold.
            self._paused_total += now - self._feed_down_since
            self._feed_down_since = None
        comparison = compare(
            self.signals, self.settings, self.service, self.candidate,
            self._baseline, self._step_started, now,
        )
        self._comparison = comparison
        self._emit(
            EventKind.COMPARISON, comparison.describe(), comparison=comparison,
            elapsed=self._held(now), store=False,
        )
        if not comparison.failed:
            return True
        self._tracebacks = failure_tracebacks(
            comparison, self.signals, self.service, self.candidate
        )
        self._fail(
            f"Step {self._index + 1} ({describe_share(self._percent())}) failed: "
            f"{'; '.join(comparison.failures)}.",
            comparison=comparison,
        )
        return False

    def _restore(self) -> None:
        assert self._before is not None
        restorer = Restorer(
            self.traffic, self.service, self._before, self._apply,
            self.settings.restore_attempts,
        )
        why = "aborted" if self._after_restore is GuardState.ABORTED else "failed"
        outcome = restorer.restore(
            f"Guarded rollout of {self.candidate} {why}: restore the split of "
            f"{self.service} from before it"
        )
        if outcome.sent:
            self._traffic_moved = True
        if outcome.split is not None:
            self._live = outcome.split
        if outcome.restored:
            self._emit(
                EventKind.TRAFFIC, outcome.message, split=outcome.split
            )
            self._finish(self._after_restore, self._reason)
            return
        self._finish(GuardState.BROKEN, f"{self._reason} {outcome.message}")
