"""Putting the split from before a guarded rollout back, in one change.

Restoring is the guard's way out of every failure, so it tries more than
once: a plan whose live read fails, a change App Engine could not take, a
change refused because the split moved in between are all tried again
(after 1, 2, 4... seconds). The split is restored with a single
UpdateService call, never step by step back down, so the candidate stops
getting traffic at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from deployconsole.core.operations import AdminError, Outcome
from deployconsole.core.split import Split
from deployconsole.core.traffic import TrafficController, TrafficPlan

log = logging.getLogger("deployconsole.rollout")

# The longest pause between two attempts, in seconds.
MAX_BACKOFF = 5.0


@dataclass(frozen=True)
class RestoreOutcome:
    """How restoring went.

    Attributes:
        restored: the split from before is live (read back).
        sent: a change reached App Engine.
        split: the split last read (None: never read).
        message: a sentence for the user.
    """

    restored: bool
    sent: bool
    split: Split | None
    message: str


class Restorer:
    """Restores ``before`` on ``service``, up to ``attempts`` times.

    ``apply`` runs a plan and waits for its outcome (the guard's, so its
    progress reaches the guard's listeners).
    """

    def __init__(
        self,
        traffic: TrafficController,
        service: str,
        before: Split,
        apply: Callable[[TrafficPlan], Outcome],
        attempts: int,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.traffic = traffic
        self.service = service
        self.before = before
        self.apply = apply
        self.attempts = max(1, attempts)
        self.sleep = sleep

    def restore(self, description: str) -> RestoreOutcome:
        service, before = self.service, self.before
        sent = False
        live: Split | None = None
        last = ""
        for attempt in range(self.attempts):
            if attempt:
                self.sleep(min(MAX_BACKOFF, 2.0 ** (attempt - 1)))
            try:
                plan = self.traffic.plan_split(
                    service, before, action="guard-rollback", description=description
                )
            except AdminError as error:
                last = error.message
                log.warning("Restore of %s: reading the split failed: %s",
                            service, error.message)
                continue
            live = plan.before
            if plan.unchanged:
                return RestoreOutcome(
                    True, sent, live,
                    f"{service} serves the split from before the rollout: "
                    f"{live.describe()}.",
                )
            if plan.refused:
                # A version of the old split deleted since: trying again
                # cannot help.
                last = " ".join(plan.problems)
                break
            outcome = self.apply(plan)
            sent = sent or not outcome.nothing_sent
            if outcome.server_split is not None:
                live = outcome.server_split
            if outcome.succeeded and live is not None and live.matches(before):
                return RestoreOutcome(
                    True, sent, live,
                    f"Restored {service} to the split from before the rollout: "
                    f"{live.describe()}.",
                )
            last = outcome.message
            log.warning("Restore of %s, attempt %d: %s", service, attempt + 1, last)

        try:
            live = self.traffic.backend.get_service(service).split
        except AdminError as error:
            log.error("Could not read the split of %s: %s", service, error.message)
        where = (
            f"{service} serves {live.describe()}" if live is not None
            else f"the split of {service} could not be read"
        )
        return RestoreOutcome(
            False, sent, live,
            f"Restoring the split from before ({before.describe()}) failed: {last} "
            f"Now {where}; restore it by hand, or abort the rollout again.",
        )
