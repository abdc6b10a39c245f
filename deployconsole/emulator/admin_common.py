"""Pieces shared by the admin handlers: resource names, paging, refusals."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from deployconsole.emulator.admin_ops import AdminError, FieldViolation, invalid
from deployconsole.emulator.state import EmulatorState

T = TypeVar("T")

# Page sizes: 0 asks for the default; larger asks are cut to the maximum and
# continue on the next page, as Google's list methods do.
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 2000


def abort(context: grpc.ServicerContext, error: AdminError) -> None:
    """End the call with ``error``; field violations travel as a
    google.rpc.BadRequest detail, where the real API puts them."""
    status = status_pb2.Status(code=error.code.value[0], message=error.message)
    if error.violations:
        detail = error_details_pb2.BadRequest()
        for violation in error.violations:
            detail.field_violations.add(
                field=violation.field, description=violation.description
            )
        packed = any_pb2.Any()
        packed.Pack(detail)
        status.details.append(packed)
    context.abort_with_status(rpc_status.to_status(status))


def guarded(
    fn: Callable[[Any, grpc.ServicerContext], Any],
) -> Callable[[Any, grpc.ServicerContext], Any]:
    """Turn an :class:`AdminError` raised by ``fn`` into the call's status."""

    def handler(request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return fn(request, context)
        except AdminError as error:
            abort(context, error)
            raise AssertionError("unreachable: abort raises") from error

    return handler


def parse_name(
    state: EmulatorState, name: str, collections: Sequence[str], field: str = "name"
) -> list[str]:
    """The ids in ``name`` after ``apps/PROJECT``, one per collection.

    ``parse_name(state, "apps/p/services/s/versions/v", ("services",
    "versions"))`` is ``["s", "v"]``.
    """
    parts = name.split("/")
    expected = "apps/PROJECT" + "".join(
        f"/{collection}/{collection[:-1].upper()}" for collection in collections
    )
    shape_ok = (
        len(parts) == 2 + 2 * len(collections)
        and parts[0] == "apps"
        and all(part for part in parts)
        and all(
            parts[2 + 2 * index] == collection
            for index, collection in enumerate(collections)
        )
    )
    if not shape_ok:
        raise invalid(
            [
                FieldViolation(
                    field,
                    f"Invalid resource name {name!r}; expected {expected}.",
                )
            ]
        )
    if parts[1] != state.project_id:
        # Wording chosen for the emulator, which serves one project.
        raise AdminError(
            grpc.StatusCode.NOT_FOUND,
            f"Application not found: apps/{parts[1]} (this emulator serves "
            f"apps/{state.project_id}).",
        )
    return [parts[3 + 2 * index] for index in range(len(collections))]


def _encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def _decode_token(token: str) -> int:
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
        kind, _, value = text.partition(":")
        offset = int(value)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        offset = -1
        kind = ""
    if kind != "offset" or offset < 0:
        raise invalid([FieldViolation("page_token", f"Invalid page token {token!r}.")])
    return offset


def paginate(
    items: Sequence[T], page_size: int, page_token: str
) -> tuple[list[T], str]:
    """One page of ``items`` and the token of the next ('' on the last)."""
    if page_size < 0:
        raise invalid(
            [FieldViolation("page_size", f"Page size {page_size} is negative.")]
        )
    size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    start = _decode_token(page_token) if page_token else 0
    page = list(items[start : start + size])
    following = start + size
    return page, (_encode_token(following) if following < len(items) else "")


def mask_paths(request: Any) -> list[str]:
    """The update_mask paths of a proto-plus request."""
    return list(type(request).pb(request).update_mask.paths)
