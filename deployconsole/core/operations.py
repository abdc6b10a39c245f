"""Mutations as operation objects, run one at a time.

Every change the console makes (a traffic split, a rollback, stopping or
deleting a version) is one :class:`Operation`: a description, a target, the
split before and after where traffic is concerned, progress as it goes, and
one :class:`Outcome`. The GUI, the CLI and the rollout guard all submit
operations to one :class:`OperationRunner`, whose single worker thread runs
them in order, so two mutations never race each other on the server.

Nothing here knows Qt: callbacks run on the worker thread, and the GUI
re-emits them as signals.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from deployconsole.core.split import Split, SplitDiff

log = logging.getLogger("deployconsole.operations")


class ErrorKind(str, Enum):
    """Why a call to App Engine did not do what was asked."""

    REFUSED = "refused"  # the service said no (bad request, not found...)
    FAILED = "failed"  # accepted, but the operation ended in error or timed out
    UNREACHABLE = "unreachable"  # no answer, even after retries
    PERMISSION = "permission"  # the caller may not do this


class AdminError(Exception):
    """A failed App Engine call, with a message meant for the user.

    Attributes:
        kind: which of the four ways it failed.
        message: a plain sentence saying what happened.
        sent: whether a mutation may have reached the server (False when
            the failure happened before anything was sent).
        operation_name: the long-running operation, when one was started.
    """

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        sent: bool = False,
        operation_name: str = "",
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.sent = sent
        self.operation_name = operation_name


class OutcomeStatus(str, Enum):
    SUCCEEDED = "succeeded"
    REFUSED = "refused"  # nothing sent: the split rules or the service said no
    CHANGED = "changed-since-shown"  # nothing sent: someone changed the split
    FAILED = "failed"  # sent, and it did not work (or its result is unknown)
    UNREACHABLE = "unreachable"  # nothing sent: App Engine could not be reached
    PERMISSION = "permission"  # nothing sent: permission missing
    CANCELLED = "cancelled"  # never started


@dataclass(frozen=True)
class Outcome:
    """How an operation ended.

    Attributes:
        status: the kind of ending.
        message: a plain sentence for the user.
        server_split: the split read back from the server afterwards (None
            when it could not be read or the operation is not about traffic).
        operation_name: the long-running operation's name, if one was started.
        difference: for CHANGED, what differs between the split shown and the
            live one.
    """

    status: OutcomeStatus
    message: str
    server_split: Split | None = None
    operation_name: str = ""
    difference: SplitDiff | None = None

    @property
    def succeeded(self) -> bool:
        return self.status is OutcomeStatus.SUCCEEDED

    @property
    def nothing_sent(self) -> bool:
        return self.status in (
            OutcomeStatus.REFUSED,
            OutcomeStatus.CHANGED,
            OutcomeStatus.UNREACHABLE,
            OutcomeStatus.PERMISSION,
            OutcomeStatus.CANCELLED,
        )


def outcome_for_error(error: AdminError) -> OutcomeStatus:
    """The outcome status for an AdminError, honest about whether it was sent."""
    if error.sent or error.kind is ErrorKind.FAILED:
        return OutcomeStatus.FAILED
    return {
        ErrorKind.REFUSED: OutcomeStatus.REFUSED,
        ErrorKind.UNREACHABLE: OutcomeStatus.UNREACHABLE,
        ErrorKind.PERMISSION: OutcomeStatus.PERMISSION,
    }[error.kind]


@dataclass(frozen=True)
class Progress:
    """One step of an operation, e.g. ``Waiting for the operation``."""

    operation_id: int
    message: str
    time: float


class OperationState(str, Enum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"


ProgressCallback = Callable[["Operation", Progress], None]
FinishedCallback = Callable[["Operation", Outcome], None]
Action = Callable[["Operation"], Outcome]

_ids = itertools.count(1)


@dataclass(eq=False)
class Operation:
    """One mutation: what it is, how far it got, how it ended.

    ``action`` does the work on the runner's thread; it reports steps with
    :meth:`report` and returns the :class:`Outcome`. An exception escaping
    it becomes a FAILED outcome, so a bug never leaves an operation hanging.

    Attributes:
        kind: a short tag: ``set-traffic``, ``rollback``, ``stop-version``...
        description: one sentence: ``Send all traffic of default to v2``.
        target: what it acts on: ``default`` or ``default/v2``.
        before, after: the split before and the one asked for (None when the
            operation is not about traffic).
    """

    kind: str
    description: str
    target: str
    action: Action
    before: Split | None = None
    after: Split | None = None
    id: int = field(default_factory=lambda: next(_ids))
    state: OperationState = OperationState.PENDING
    progress: list[Progress] = field(default_factory=list)
    outcome: Outcome | None = None
    _done: threading.Event = field(default_factory=threading.Event, repr=False)
    _progress_callbacks: list[ProgressCallback] = field(
        default_factory=list, repr=False
    )
    _finished_callbacks: list[FinishedCallback] = field(
        default_factory=list, repr=False
    )

    def on_progress(self, callback: ProgressCallback) -> None:
        """Call ``callback(operation, progress)`` for each later step."""
        self._progress_callbacks.append(callback)

    def on_finished(self, callback: FinishedCallback) -> None:
        """Call ``callback(operation, outcome)`` once it ends (at once if it has)."""
        if self.outcome is not None:
            callback(self, self.outcome)
            return
        self._finished_callbacks.append(callback)

    def report(self, message: str) -> None:
        """Record a step; called by the action on the runner's thread."""
        step = Progress(self.id, message, time.time())
        self.progress.append(step)
        log.debug("Operation %d (%s): %s", self.id, self.target, message)
        for callback in list(self._progress_callbacks):
            _call_safely(callback, self, step)

    def wait(self, timeout: float | None = None) -> Outcome | None:
        """Block until the operation ends; its outcome, or None on timeout."""
        self._done.wait(timeout)
        return self.outcome

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def _finish(self, outcome: Outcome) -> None:
        self.outcome = outcome
        self.state = OperationState.DONE
        self._done.set()
        for callback in list(self._finished_callbacks):
            _call_safely(callback, self, outcome)

    def run(self) -> Outcome:
        """Run the action here and now (the runner calls this)."""
        self.state = OperationState.RUNNING
        try:
            outcome = self.action(self)
        except AdminError as error:
            outcome = Outcome(outcome_for_error(error), error.message)
        except Exception as error:  # noqa: BLE001 - must never hang the caller
            log.exception("Operation %d (%s) crashed.", self.id, self.description)
            outcome = Outcome(
                OutcomeStatus.FAILED,
                f"{self.description} failed unexpectedly: {error}",
            )
        log.info(
            "Operation %d (%s) ended %s: %s",
            self.id, self.description, outcome.status.value, outcome.message,
        )
        self._finish(outcome)
        return outcome

    def cancel(self, reason: str = "Cancelled before it started.") -> bool:
        """End a pending operation without running it; False once running."""
        if self.state is not OperationState.PENDING:
            return False
        self._finish(Outcome(OutcomeStatus.CANCELLED, reason))
        return True


def _call_safely(callback: Callable[..., None], *args: object) -> None:
    # A listener's bug must not stop the operation or the other listeners.
    try:
        callback(*args)
    except Exception:  # noqa: BLE001
        log.exception("An operation listener failed.")


class OperationRunner:
    """A single worker thread running operations one at a time, in order.

    ``on_progress`` and ``on_finished`` are called for every operation on the
    worker thread, after the operation's own callbacks.
    """

    def __init__(
        self,
        on_progress: ProgressCallback | None = None,
        on_finished: FinishedCallback | None = None,
    ) -> None:
        self._queue: queue.Queue[Operation | None] = queue.Queue()
        self._on_progress = on_progress
        self._on_finished = on_finished
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False
        self.current: Operation | None = None

    def submit(self, operation: Operation) -> Operation:
        """Queue ``operation`` behind any others; returns it."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the operation runner has been shut down")
            if self._on_progress is not None:
                operation.on_progress(self._on_progress)
            if self._on_finished is not None:
                operation.on_finished(self._on_finished)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._work, name="operation-runner", daemon=True
                )
                self._thread.start()
            self._queue.put(operation)
        log.info("Operation %d queued: %s.", operation.id, operation.description)
        return operation

    def pending(self) -> int:
        """Operations queued and not yet started."""
        return self._queue.qsize()

    def _work(self) -> None:
        while True:
            operation = self._queue.get()
            if operation is None:
                return
            if operation.done:  # cancelled while queued
                continue
            self.current = operation
            operation.run()
            self.current = None

    def shutdown(self, *, wait: bool = True, timeout: float | None = None) -> None:
        """Cancel what is queued, let the running one finish, stop the thread."""
        with self._lock:
            self._closed = True
            thread = self._thread
        while True:
            try:
                queued = self._queue.get_nowait()
            except queue.Empty:
                break
            if queued is not None:
                queued.cancel("Cancelled: the console is shutting down.")
        self._queue.put(None)
        if wait and thread is not None:
            thread.join(timeout)
