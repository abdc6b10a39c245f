"""google.logging.v2.LoggingServiceV2 for the emulator: WriteLogEntries,
ListLogEntries and TailLogEntries over the log store.

Requests and responses stay raw protobuf messages: proto-plus wrappers cost
about ten times more per field read, and ListLogEntries and the tail touch
every stored entry.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import grpc
from google.cloud.logging_v2.types import logging as logging_types
from google.protobuf import any_pb2
from google.rpc import code_pb2, status_pb2
from grpc_status import rpc_status

from deployconsole.emulator import rpc
from deployconsole.emulator.filters import FilterError, Predicate, compile_filter
from deployconsole.emulator.logstore import Key, LogStore, StoreClosed, TooManySessions
from deployconsole.emulator.state import EmulatorState

log = logging.getLogger("deployconsole.emulator.logging")

SERVICE = "google.logging.v2.LoggingServiceV2"
WriteRequest = logging_types.WriteLogEntriesRequest.pb()
WriteResponse = logging_types.WriteLogEntriesResponse.pb()
PartialErrors = logging_types.WriteLogEntriesPartialErrors.pb()
ListRequest = logging_types.ListLogEntriesRequest.pb()
ListResponse = logging_types.ListLogEntriesResponse.pb()
TailRequest = logging_types.TailLogEntriesRequest.pb()
TailResponse = logging_types.TailLogEntriesResponse.pb()
Reason = TailResponse.SuppressionInfo.Reason

# The API reference: "Default is 50. If the value is negative or exceeds
# 1000, the request is rejected."
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1_000
MAX_RESOURCE_NAMES = 100
MAX_ENTRY_BYTES = 256 * 1024
DEFAULT_BUFFER_WINDOW = 2.0
MAX_BUFFER_WINDOW = 60.0
# Entries one ListLogEntries call examines before answering with what it has
# and a page token, as the service does when a sparse filter would take too
# long ("the search did not have time to search all the possible entries").
SCAN_BUDGET = 200_000
_SCAN_CHUNK = 2_000

_PARENT = re.compile(
    r"(projects|organizations|folders|billingAccounts)/[^/]+"
    r"(/locations/[^/]+/buckets/[^/]+/views/[^/]+)?"
)
_LOG_NAME = re.compile(
    r"(projects|organizations|folders|billingAccounts)/[^/]+/logs/[A-Za-z0-9/_\-.%]+"
)
_ORDERS = {"timestamp asc": False, "timestamp desc": True}


class _Refusal(Exception):
    """A request the service would refuse; becomes INVALID_ARGUMENT."""


def build_handlers(state: EmulatorState) -> list[grpc.GenericRpcHandler]:
    api = _LoggingApi(state)
    faults = state.faults
    methods = {
        "WriteLogEntries": rpc.unary(
            faults, "WriteLogEntries", WriteRequest, WriteResponse, api.write
        ),
        "ListLogEntries": rpc.unary(
            faults, "ListLogEntries", ListRequest, ListResponse, api.list
        ),
        "TailLogEntries": rpc.stream_stream(
            faults, "TailLogEntries", TailRequest, TailResponse, api.tail
        ),
    }
    return [rpc.service(SERVICE, methods)]


def parents_of(resource_names: Any) -> tuple[str, ...]:
    """The parent resources (``projects/ID`` ...) that entries are kept under.

    A log view names its project's entries: the emulator has no buckets.
    """
    if not resource_names:
        raise _Refusal(
            "resource_names is required: name at least one parent such as "
            "projects/PROJECT_ID."
        )
    if len(resource_names) > MAX_RESOURCE_NAMES:
        raise _Refusal(f"At most {MAX_RESOURCE_NAMES} resource_names may be given.")
    parents = []
    for name in resource_names:
        if not _PARENT.fullmatch(name):
            raise _Refusal(
                f"Invalid resource name {name!r}: expected projects/PROJECT_ID "
                "(or an organization, folder, billing account or log view)."
            )
        parents.append("/".join(name.split("/")[:2]))
    return tuple(parents)


def _compile(text: str) -> Predicate:
    try:
        return compile_filter(text)
    except FilterError as exc:
        raise _Refusal(str(exc)) from exc


class _LoggingApi:
    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        assert state.logs is not None, "the log store must exist before handlers"
        self.store: LogStore = state.logs

    # WriteLogEntries ---------------------------------------------------

    def write(self, request: Any, context: grpc.ServicerContext) -> Any:
        if not request.entries:
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, "At least one log entry is required."
            )
        if request.log_name and not _LOG_NAME.fullmatch(request.log_name):
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, _bad_log_name(request.log_name)
            )
        accepted: list[Any] = []
        errors: dict[int, str] = {}
        for index, entry in enumerate(request.entries):
            try:
                self._apply_defaults(request, entry)
            except _Refusal as exc:
                errors[index] = f"Log entry {index}: {exc}"
                continue
            accepted.append(entry)
        if errors and not request.partial_success:
            first = min(errors)
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, errors[first])
        if not request.dry_run:
            self.store.write(accepted)
        log.debug(
            "WriteLogEntries kept %d entries (%d refused, dry_run=%s).",
            len(accepted), len(errors), request.dry_run,
        )
        if errors:
            _abort_partial(context, errors)
        return WriteResponse()

    def _apply_defaults(self, request: Any, entry: Any) -> None:
        """Copy the request's log_name, resource and labels into ``entry``
        where it has none of its own, as the API documents, and check it.

        The service does not publish the wording of these refusals; the
        messages are the emulator's own."""
        if not entry.log_name:
            entry.log_name = request.log_name
        if not entry.log_name:
            raise _Refusal("log_name is required, in the entry or in the request.")
        if not _LOG_NAME.fullmatch(entry.log_name):
            raise _Refusal(_bad_log_name(entry.log_name))
        if not entry.HasField("resource") and request.HasField("resource"):
            entry.resource.CopyFrom(request.resource)
        if not entry.resource.type:
            raise _Refusal(
                "resource is required, in the entry or in the request, "
                "with a type such as gae_app."
            )
        for key, value in request.labels.items():
            if key not in entry.labels:
                entry.labels[key] = value
        size = entry.ByteSize()
        if size > MAX_ENTRY_BYTES:
            raise _Refusal(
                f"Log entry of {size} bytes exceeds the maximum size of "
                f"{MAX_ENTRY_BYTES} bytes."
            )

    # ListLogEntries ----------------------------------------------------

    def list(self, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return self._list(request)
        except _Refusal as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            raise  # abort raises; this keeps type checkers informed

    def _list(self, request: Any) -> Any:
        parents = parents_of(request.resource_names)
        order = " ".join(request.order_by.lower().split()) or "timestamp asc"
        if order not in _ORDERS:
            raise _Refusal(
                f'Invalid order_by {request.order_by!r}: use "timestamp asc" or '
                '"timestamp desc".'
            )
        descending = _ORDERS[order]
        page_size = request.page_size or DEFAULT_PAGE_SIZE
        if not 0 < page_size <= MAX_PAGE_SIZE:
            raise _Refusal(
                f"Invalid page_size {request.page_size}: it must be between 0 and "
                f"{MAX_PAGE_SIZE}."
            )
        predicate = _compile(request.filter)
        fingerprint = _fingerprint(request.filter, order, parents)
        cursor = _decode_token(request.page_token, fingerprint)

        # FIXME(logging-retention): the service hides entries stamped more
        # than 24 h ahead or older than its retention from lists; the
        # emulator lists whatever it keeps.
        prefixes = tuple(parent + "/logs/" for parent in parents)
        page: list[Any] = []
        more = False
        scanned = 0
        while scanned < SCAN_BUDGET:
            chunk = self.store.scan(cursor, descending, _SCAN_CHUNK)
            if not chunk:
                break
            for key, entry in chunk:
                scanned += 1
                if not (entry.log_name.startswith(prefixes) and predicate(entry)):
                    cursor = key
                    continue
                if len(page) == page_size:
                    more = True  # one match beyond the page: say there is more
                    break
                page.append(entry)
                cursor = key
            if more:
                break
        else:
            more = True  # budget spent: the caller may continue from cursor

        response = ListResponse()
        response.entries.extend(page)
        if more and cursor is not None:
            response.next_page_token = _encode_token(cursor, fingerprint)
        return response

    # TailLogEntries ----------------------------------------------------

    def tail(
        self, requests: Iterator[Any], context: grpc.ServicerContext
    ) -> Iterator[Any]:
        first = next(requests, None)
        if first is None:
            return
        try:
            parents = parents_of(first.resource_names)
            predicate = _compile(first.filter)
            window = _buffer_window(first)
        except _Refusal as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        try:
            subscription = self.store.subscribe(predicate, parents)
        except TooManySessions as exc:
            context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED, f"Too many tail sessions: {exc}."
            )
        except StoreClosed:
            context.abort(grpc.StatusCode.UNAVAILABLE, "The emulator is stopping.")
        if not context.add_callback(subscription.close):
            subscription.close()
        log.info(
            "Tail session started for %s (filter %r, buffer window %.1f s).",
            ", ".join(parents), first.filter, window,
        )
        sent = 0
        try:
            while True:
                limit = max(1, self.store.tail.batch_size)
                batch = subscription.next_batch(window, limit)
                if batch is None:
                    log.info("Tail session for %s ended after %d entries.",
                             ", ".join(parents), sent)
                    return
                response = TailResponse()
                for reason, count in (
                    (Reason.RATE_LIMIT, batch.rate_limited),
                    (Reason.NOT_CONSUMED, batch.not_consumed),
                ):
                    if count:
                        response.suppression_info.add(
                            reason=reason, suppressed_count=count
                        )
                for entry in batch.entries:
                    response.entries.append(entry)
                    sent += 1
                    if self.state.faults.tail_should_cut(sent):
                        yield response
                        log.info("Fault: tail session cut after %d entries.", sent)
                        context.abort(
                            grpc.StatusCode.UNAVAILABLE,
                            f"The tail stream was cut after {sent} entries "
                            "(fault injected on TailLogEntries).",
                        )
                yield response
        finally:
            self.store.unsubscribe(subscription)


def _buffer_window(request: Any) -> float:
    if not request.HasField("buffer_window"):
        return DEFAULT_BUFFER_WINDOW
    window = request.buffer_window.ToTimedelta().total_seconds()
    if not 0.0 <= window <= MAX_BUFFER_WINDOW:
        raise _Refusal(
            f"Invalid buffer_window {window:g} s: it must be between 0 and "
            f"{MAX_BUFFER_WINDOW * 1000:.0f} milliseconds."
        )
    return window


def _bad_log_name(name: str) -> str:
    return (
        f"Invalid log name {name!r}: expected projects/PROJECT_ID/logs/LOG_ID "
        "with LOG_ID URL-encoded (letters, digits, / _ - . and %)."
    )


def _abort_partial(context: grpc.ServicerContext, errors: dict[int, str]) -> None:
    details = PartialErrors()
    for index, message in errors.items():
        details.log_entry_errors[index].CopyFrom(
            status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message=message)
        )
    packed = any_pb2.Any()
    packed.Pack(details)
    first = errors[min(errors)]
    status = status_pb2.Status(
        code=code_pb2.INVALID_ARGUMENT, message=first, details=[packed]
    )
    context.abort_with_status(rpc_status.to_status(status))


def _fingerprint(text: str, order: str, parents: tuple[str, ...]) -> str:
    material = "\0".join((text, order, *parents)).encode()
    return hashlib.blake2b(material, digest_size=8).hexdigest()


def _encode_token(cursor: Key, fingerprint: str) -> str:
    raw = json.dumps([cursor[0], cursor[1], cursor[2], fingerprint]).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode_token(token: str, fingerprint: str) -> Key | None:
    """The cursor in ``token``: a position in list order, not an offset, so it
    stays valid while new entries arrive."""
    if not token:
        return None
    try:
        fields = json.loads(base64.urlsafe_b64decode(token))
        nanos, insert_id, sequence, made_for = fields
        cursor = (int(nanos), str(insert_id), int(sequence))
    except (ValueError, TypeError, binascii.Error) as exc:
        raise _Refusal(f"Invalid page_token {token!r}.") from exc
    if made_for != fingerprint:
        raise _Refusal(
            "The page_token was issued for a different filter, order_by or "
            "resource_names; repeat the request with the same values."
        )
    return cursor
