"""Long-running operations of the emulator's admin mutations, and the
google.longrunning.Operations methods the official clients poll them with.

An accepted mutation becomes an Operation named ``apps/P/operations/UUID``
that finishes after a delay; the change itself is applied when it finishes,
as the real service changes traffic only when its operation completes. All
pending operations share one timer thread, which exists only while some are
pending.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
from google.cloud.appengine_admin_v1 import types as ae
from google.longrunning import operations_pb2
from google.protobuf import any_pb2, empty_pb2
from google.rpc import code_pb2, status_pb2

from deployconsole.emulator import audit, rpc
from deployconsole.emulator.admin_common import guarded, paginate
from deployconsole.emulator.admin_ops import (
    AdminError,
    FieldViolation,
    invalid,
    operation_in_progress,
    timestamp,
)
from deployconsole.emulator.state import EmulatorState

log = logging.getLogger("deployconsole.emulator.operations")

METHOD_PREFIX = "google.appengine.v1."
# Finished operations kept for GetOperation/ListOperations; the oldest
# finished ones go first. The real service also forgets old operations.
MAX_KEPT = 1000

# What an operation does when it finishes: the resulting resource (or None
# for an Empty response). It may raise AdminError, which fails the operation.
Apply = Callable[[], Any]


class TimerQueue:
    """Calls functions after delays on one thread, started on demand and
    ended when nothing is pending (so idle emulators hold no thread)."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._sequence = itertools.count()
        self._thread: threading.Thread | None = None

    def call_later(self, delay: float, fn: Callable[[], None]) -> None:
        with self._cond:
            due = time.monotonic() + max(delay, 0.0)
            heapq.heappush(self._heap, (due, next(self._sequence), fn))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name=self._name, daemon=True
                )
                self._thread.start()
            else:
                self._cond.notify()

    def _next_due(self) -> Callable[[], None] | None:
        with self._cond:
            while self._heap:
                due = self._heap[0][0]
                wait = due - time.monotonic()
                if wait <= 0:
                    return heapq.heappop(self._heap)[2]
                self._cond.wait(wait)
            self._thread = None
            return None

    def _run(self) -> None:
        while (fn := self._next_due()) is not None:
            try:
                fn()
            except Exception:
                log.exception("An operation's completion failed unexpectedly.")


@dataclass
class _Pending:
    method: str
    target: str
    apply: Apply
    fails: bool
    principal: str | None = None


class OperationStore:
    """The operations of one emulated project."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self._lock = threading.Lock()
        self._operations: OrderedDict[str, operations_pb2.Operation] = OrderedDict()
        # Target resource name -> the operation now running on it; in the
        # state, so that changes made without an operation see it too.
        self._busy = state.running_operations
        self._timers = TimerQueue("emulator-operations")

    def start(
        self,
        method: str,
        target: str,
        apply: Apply,
        *,
        delay: float | None = None,
        principal: str | None = None,
    ) -> operations_pb2.Operation:
        """Accept a mutation; ``method`` is e.g. ``Services.UpdateService``.

        Raises ABORTED while another operation runs on the same target, as
        App Engine refuses concurrent changes to one resource.
        """
        short = method.rpartition(".")[2]
        name = f"{self.state.app_name()}/operations/{uuid.uuid4()}"
        metadata = ae.OperationMetadataV1(
            method=METHOD_PREFIX + method,
            insert_time=timestamp(self.state.clock.now()),
            user=principal or self.state.config.principal_email,
            target=target,
        )
        operation = operations_pb2.Operation(name=name, done=False)
        operation.metadata.Pack(ae.OperationMetadataV1.pb(metadata))
        fails = self.state.faults.operation_fails(short)
        pending = _Pending(method, target, apply, fails, principal)

        with self._lock:
            running = self._busy.get(target)
            if running is not None:
                raise operation_in_progress(target, running)
            self._busy[target] = name
            self._operations[name] = operation
            self._forget_old()
            accepted = _copy(operation)

        if delay is None:
            delay = self.state.config.operation_delay
        self._timers.call_later(delay, lambda: self._finish(name, pending))
        log.info("Operation %s started: %s on %s.", name, method, target)
        return accepted

    def _forget_old(self) -> None:
        excess = len(self._operations) - MAX_KEPT
        if excess <= 0:
            return
        finished = [name for name, op in self._operations.items() if op.done]
        for name in finished[:excess]:
            del self._operations[name]

    def _finish(self, name: str, pending: _Pending) -> None:
        error: status_pb2.Status | None = None
        response: Any = None
        if pending.fails:
            error = status_pb2.Status(
                code=code_pb2.INTERNAL,
                message=f"The operation failed (fault injected on "
                f"{pending.method.rpartition('.')[2]}).",
            )
        else:
            try:
                response = pending.apply()
            except AdminError as refused:
                error = status_pb2.Status(
                    code=refused.code.value[0], message=refused.message
                )

        # The audit log's second entry for the change, how it ended: written
        # before the operation reads as done, as a caller may look at once.
        audit.write(
            self.state,
            audit.operation_end_entry(
                self.state,
                pending.method,
                pending.target,
                name,
                error,
                principal=pending.principal,
            ),
        )
        with self._lock:
            operation = self._operations.get(name)
            self._busy.pop(pending.target, None)
            if operation is None:
                return
            metadata = ae.OperationMetadataV1.pb()()
            operation.metadata.Unpack(metadata)
            metadata.end_time.CopyFrom(timestamp(self.state.clock.now()))
            operation.metadata.Pack(metadata)
            if error is not None:
                operation.error.CopyFrom(error)
            else:
                operation.response.CopyFrom(_pack(response))
            operation.done = True

        if error is not None:
            log.warning("Operation %s failed: %s", name, error.message)
        else:
            log.info(
                "Operation %s done: %s on %s.", name, pending.method, pending.target
            )

    def get(self, name: str) -> operations_pb2.Operation:
        with self._lock:
            operation = self._operations.get(name)
            if operation is not None:
                return _copy(operation)
        # Wording chosen for the emulator.
        raise AdminError(grpc.StatusCode.NOT_FOUND, f"Operation not found: {name}.")

    def all(self) -> list[operations_pb2.Operation]:
        with self._lock:
            return [_copy(operation) for operation in self._operations.values()]


def _copy(operation: operations_pb2.Operation) -> operations_pb2.Operation:
    copy = operations_pb2.Operation()
    copy.CopyFrom(operation)
    return copy


def _pack(response: Any) -> any_pb2.Any:
    raw = empty_pb2.Empty() if response is None else type(response).pb(response)
    packed = any_pb2.Any()
    packed.Pack(raw)
    return packed


def build_handlers(
    state: EmulatorState, store: OperationStore
) -> list[grpc.GenericRpcHandler]:
    """google.longrunning.Operations: GetOperation and ListOperations."""

    def get_operation(
        request: operations_pb2.GetOperationRequest, context: grpc.ServicerContext
    ) -> operations_pb2.Operation:
        return store.get(request.name)

    def list_operations(
        request: operations_pb2.ListOperationsRequest, context: grpc.ServicerContext
    ) -> operations_pb2.ListOperationsResponse:
        if request.name not in (state.app_name(), f"{state.app_name()}/operations"):
            raise AdminError(
                grpc.StatusCode.NOT_FOUND,
                f"Application not found: {request.name} (this emulator serves "
                f"{state.app_name()}).",
            )
        if request.filter:
            # Filtering operations is not emulated; refusing beats ignoring.
            raise invalid(
                [
                    FieldViolation(
                        "filter",
                        "This emulator does not filter operations; list them "
                        f"without a filter (got {request.filter!r}).",
                    )
                ]
            )
        page, token = paginate(store.all(), request.page_size, request.page_token)
        return operations_pb2.ListOperationsResponse(
            operations=page, next_page_token=token
        )

    faults = state.faults
    methods = {
        "GetOperation": rpc.unary(
            faults,
            "GetOperation",
            operations_pb2.GetOperationRequest,
            operations_pb2.Operation,
            guarded(get_operation),
        ),
        "ListOperations": rpc.unary(
            faults,
            "ListOperations",
            operations_pb2.ListOperationsRequest,
            operations_pb2.ListOperationsResponse,
            guarded(list_operations),
        ),
    }
    return [rpc.service("google.longrunning.Operations", methods)]
