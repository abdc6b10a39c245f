"""The guarded rollout's plumbing: attributes, commands, thread, events.

:class:`GuardBase` holds what every state of the machine shares: the
commands queued from other threads, the thread that ticks, the listeners,
and the bookkeeping that writes each change to the store before the work
it announces. The states themselves are in :mod:`deployconsole.core.rollout`.
"""

from __future__ import annotations

import logging
import os
import queue
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import Enum

from deployconsole.core.appmodel import VersionInfo
from deployconsole.core.rollout_model import (
    Comparison,
    EventKind,
    GuardEvent,
    GuardResult,
    GuardSettings,
    GuardState,
)
from deployconsole.core.rollout_rules import RolloutSignals
from deployconsole.core.rollout_store import RolloutRecord, RolloutStore
from deployconsole.core.smoke import CheckResult, SmokeRunner
from deployconsole.core.split import Split
from deployconsole.core.traffic import TrafficController

log = logging.getLogger("deployconsole.rollout")

Listener = Callable[[GuardEvent], None]
# Seconds between heartbeats in the store.
BEAT_SECONDS = 5.0
# Failed ticks in a row after which the guard gives up.
MAX_CRASHES = 3


class _Command(Enum):
    PAUSE = "pause"
    RESUME = "resume"
    PROMOTE_NOW = "promote-now"
    ABORT = "abort"


@dataclass(frozen=True)
class GuardStatus:
    """Where the guard is, for a panel that opens late.

    ``step`` is the index of the step whose split is live (-1: none yet);
    ``held`` the seconds held there so far (paused time not counted).
    """

    state: GuardState
    service: str
    candidate: str
    steps: tuple[float, ...]
    step: int
    held: float
    hold: float
    split_before: Split | None
    split_live: Split | None
    comparison: Comparison | None
    checks: tuple[CheckResult, ...]
    reason: str


class GuardBase:
    """A guarded rollout's shared state; see RolloutGuard for the machine.

    Args:
        traffic: the controller every traffic change goes through.
        signals: the live log pipeline's figures (IngestPipeline).
        service, candidate: what to roll out where.
        settings: steps, hold, thresholds, smoke plan.
        store: where the rollout is recorded (None: nowhere, tests only).
        smoke_runner: runs the smoke check (default: real HTTP).
        feed_problem: says why the log feed is down, None while it is up.
        clock: epoch seconds, the same clock as the log entries' times.
        operation_timeout: seconds to wait for one traffic change.
    """

    def __init__(
        self,
        traffic: TrafficController,
        signals: RolloutSignals,
        service: str,
        candidate: str,
        settings: GuardSettings | None = None,
        *,
        store: RolloutStore | None = None,
        smoke_runner: SmokeRunner | None = None,
        feed_problem: Callable[[], str | None] | None = None,
        clock: Callable[[], float] = time.time,
        operation_timeout: float = 300.0,
    ) -> None:
        self.traffic = traffic
        self.signals = signals
        self.service = service
        self.candidate = candidate
        self.settings = settings or GuardSettings()
        self.store = store
        self.smoke_runner = smoke_runner or SmokeRunner(clock=clock)
        self.feed_problem = feed_problem or (lambda: None)
        self.clock = clock
        self.operation_timeout = operation_timeout
        self.owner = f"{traffic.identity}/{os.getpid()}/{uuid.uuid4().hex[:8]}"
        self.record: RolloutRecord | None = None

        self._lock = threading.RLock()
        self._commands: queue.SimpleQueue[_Command] = queue.SimpleQueue()
        self._interrupt = threading.Event()
        self._wake = threading.Event()
        self._done = threading.Event()
        self._listeners: list[Listener] = []
        self._thread: threading.Thread | None = None

        self._state = GuardState.PENDING
        self._target: VersionInfo | None = None
        self._before: Split | None = None
        self._live: Split | None = None
        self._baseline: tuple[str, ...] = ()
        self._index = -1
        self._next_index = 0
        self._step_started = 0.0
        self._paused_total = 0.0
        self._paused_at: float | None = None
        self._pause_requested = False
        self._feed_down_since: float | None = None
        self._comparison: Comparison | None = None
        self._checks: list[CheckResult] = []
        self._events: list[GuardEvent] = []
        self._reason = ""
        self._tracebacks: tuple[str, ...] = ()
        self._after_restore = GuardState.ROLLED_BACK
        self._traffic_moved = False
        self._unreachable = False
        self._steps_passed = 0
        self._last_beat = 0.0
        self._result: GuardResult | None = None

    # -- observers ---------------------------------------------------------

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener(event)`` for every later event, on the ticking thread."""
        self._listeners.append(listener)

    @property
    def state(self) -> GuardState:
        return self._state

    @property
    def result(self) -> GuardResult | None:
        """How it ended; None until it has."""
        return self._result

    def status(self) -> GuardStatus:
        """A snapshot; never blocks, so the GUI thread may call it.

        It does not take the tick's lock (a tick may block for seconds on a
        traffic change); every field is an immutable value replaced whole,
        so a snapshot is at worst one tick old in some fields.
        """
        return GuardStatus(
            self._state, self.service, self.candidate, self.settings.steps,
            self._index, self._held(self.clock()), self.settings.hold_seconds,
            self._before, self._live, self._comparison, tuple(self._checks),
            self._reason,
        )

    # -- commands (any thread) -----------------------------------------------

    def pause(self) -> None:
        """Hold at the current step until resumed (failures still roll back)."""
        self._command(_Command.PAUSE)

    def resume(self) -> None:
        self._command(_Command.RESUME)

    def promote_now(self) -> None:
        """Skip the remaining checks and steps: send all traffic to the candidate."""
        self._interrupt.set()
        self._command(_Command.PROMOTE_NOW)

    def abort(self) -> None:
        """Stop and restore the split from before the guard began."""
        self._interrupt.set()
        self._command(_Command.ABORT)

    def _command(self, command: _Command) -> None:
        log.info("Rollout of %s/%s: %s requested.", self.service, self.candidate,
                 command.value)
        self._commands.put(command)
        self._wake.set()

    def start(self) -> None:
        """Run on a daemon thread (call :meth:`prepare` first)."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(
            target=self._loop, name=f"guard-{self.service}-{self.candidate}",
            daemon=True,
        )
        self._thread.start()

    def run(self) -> GuardResult:
        """Tick in the calling thread until the rollout ends."""
        self._loop()
        assert self._result is not None
        return self._result

    def wait(self, timeout: float | None = None) -> GuardResult | None:
        """Block until the rollout ends; its result, or None on timeout."""
        self._done.wait(timeout)
        return self._result

    def _loop(self) -> None:
        crashes = 0
        while True:
            try:
                if not self.tick():
                    return
                crashes = 0
            except Exception:
                # A bug must not leave traffic at a step with nobody watching:
                # roll back, and give up only if even that keeps failing.
                crashes += 1
                log.exception(
                    "Rollout of %s/%s: a tick failed (%d in a row).",
                    self.service, self.candidate, crashes,
                )
                with self._lock:
                    self._after_crash(crashes)
                if self._state.final:
                    return
            self._wake.wait(self.settings.poll_seconds)
            self._wake.clear()

    def _after_crash(self, crashes: int) -> None:
        if self._before is None or self._state.final:
            return
        if crashes >= MAX_CRASHES:
            self._finish(
                GuardState.BROKEN, "The guard failed repeatedly on an internal "
                f"error; the split is {self._describe_live()} as last read.",
            )
        elif self._state is not GuardState.ROLLING_BACK:
            self._fail("The guard failed on an internal error; see the log file.")

    def _describe_live(self) -> str:
        return self._live.describe() if self._live is not None else "unknown"

    def tick(self) -> bool:
        raise NotImplementedError

    def _take_commands(self) -> None:
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                return
            if self._state.final or self._state is GuardState.ROLLING_BACK:
                continue
            if command is _Command.PAUSE:
                self._pause_requested = True
            elif command is _Command.RESUME:
                self._pause_requested = False
            elif command is _Command.PROMOTE_NOW:
                self._interrupt.clear()
                self._pause_requested = False
                self._next_index = len(self.settings.steps) - 1
                self._set_state(
                    GuardState.SHIFTING, "Promote now: all traffic goes to "
                    f"{self.candidate} without further checks.",
                )
            elif command is _Command.ABORT:
                self._abort()

    def _abort(self) -> None:
        self._interrupt.clear()
        if self._index < 0 and not self._traffic_moved:
            self._finish(
                GuardState.ABORTED, "Aborted by the user before any traffic moved."
            )
            return
        self._fail("Aborted by the user.", GuardState.ABORTED)

    def _held(self, now: float) -> float:
        if self._index < 0:
            return 0.0
        paused = self._paused_total
        if self._paused_at is not None:
            paused += now - self._paused_at
        if self._feed_down_since is not None:
            paused += now - self._feed_down_since
        return max(0.0, now - self._step_started - paused)

    def _percent(self) -> float:
        return self.settings.steps[max(self._index, 0)]

    def _fail(
        self,
        reason: str,
        final: GuardState = GuardState.ROLLED_BACK,
        comparison: Comparison | None = None,
    ) -> None:
        self._reason = reason
        self._after_restore = final
        self._set_state(GuardState.ROLLING_BACK, reason, comparison)

    # -- bookkeeping -----------------------------------------------------------

    def _set_state(
        self, state: GuardState, message: str, comparison: Comparison | None = None
    ) -> None:
        previous, self._state = self._state, state
        log.info(
            "Rollout of %s/%s: %s → %s. %s", self.service, self.candidate,
            previous.value, state.value, message,
        )
        self._persist()
        if message:
            self._emit(EventKind.STATE, message, comparison=comparison)

    def _finish(self, state: GuardState, reason: str) -> None:
        assert self._before is not None
        self._state = state
        self._reason = reason
        if self.store is not None and self.record is not None:
            record_id = self.record.id
            self._write(
                "the end", lambda store: store.finish(
                    record_id, state=state, reason=reason, split_live=self._live,
                    now=self.clock(),
                ),
            )
        self._emit(EventKind.FINISHED, reason)
        self._result = GuardResult(
            state, reason, self._before, self._live, self._steps_passed,
            self._traffic_moved, self._unreachable and not self._traffic_moved,
            self._tracebacks, tuple(self._events),
        )
        log.info("Rollout of %s/%s ended %s: %s", self.service, self.candidate,
                 state.value, reason)
        self._done.set()

    def _persist(
        self,
        *,
        split_target: Split | None = None,
        split_live: Split | None = None,
        state: GuardState | None = None,
    ) -> bool:
        """Record the state (and splits); False if the store failed."""
        if self.store is None or self.record is None:
            return True
        now = self.clock()
        record_id = self.record.id
        step = self._next_index if split_target is not None else self._index
        written = self._write(
            "the state", lambda store: store.update(
                record_id, state=state or self._state, step=step, now=now,
                split_target=split_target, split_live=split_live,
            ),
        )
        if written:
            self._last_beat = now
        return written

    def _beat(self) -> None:
        now = self.clock()
        if self.store is None or self.record is None or self._state.final:
            return
        if now - self._last_beat >= BEAT_SECONDS:
            record_id = self.record.id
            self._write("the heartbeat", lambda store: store.beat(record_id, now))
            self._last_beat = now

    def _write(self, what: str, write: Callable[[RolloutStore], None]) -> bool:
        assert self.store is not None
        try:
            write(self.store)
            return True
        except (sqlite3.Error, OSError) as error:
            log.error(
                "Could not record %s of the rollout of %s/%s: %s",
                what, self.service, self.candidate, error,
            )
            return False

    def _emit(
        self,
        kind: EventKind,
        message: str,
        *,
        split: Split | None = None,
        comparison: Comparison | None = None,
        check: CheckResult | None = None,
        elapsed: float | None = None,
        store: bool = True,
    ) -> None:
        step = self._index
        event = GuardEvent(
            kind, self.clock(), self._state, message, step,
            self.settings.steps[step] if step >= 0 else None, split, comparison,
            check, elapsed,
        )
        if store:
            self._events.append(replace(event, elapsed=None))
            if self.store is not None and self.record is not None:
                record_id = self.record.id
                self._write(
                    "an event", lambda store: store.add_event(record_id, event)
                )
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:  # noqa: BLE001 - a listener must not stop the guard
                log.exception("A rollout listener failed.")
