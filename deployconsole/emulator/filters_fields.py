"""Turning filter field paths into fast getters over raw LogEntry messages.

Paths are checked against the LogEntry schema once, when the filter is
compiled, so a misspelt field is an error and not a filter that silently
matches nothing. ``jsonPayload`` is schemaless and resolved per entry.
``protoPayload`` is an ``Any``: its paths are resolved against each payload
type the emulator knows (App Engine RequestLog and Cloud Audit AuditLog), and
the payload is unpacked at most once per entry, shared by every filter.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from google.cloud.appengine_logging_v1.types import RequestLog
from google.cloud.audit import audit_log_pb2
from google.cloud.logging_v2.types import LogEntry
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor

from deployconsole.emulator.filters_syntax import FieldPath, FilterError

Getter = Callable[[Any], Any]


class _Sentinel:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


# A getter's result when the entry lacks the field (proto3 default values
# count as absent, as they do in the service's JSON view of an entry).
MISSING: Any = _Sentinel("MISSING")
# A JSON null inside jsonPayload, matched by the literal NULL_VALUE.
NULL: Any = _Sentinel("NULL")


class Kind(enum.Enum):
    STRING = "a string"
    NUMBER = "a number"
    BOOL = "a boolean"
    ENUM = "an enum"
    SEVERITY = "a severity"
    TIMESTAMP = "a timestamp"
    DURATION = "a duration"
    MESSAGE = "a message"
    DYNAMIC = "a JSON value"


@dataclass(frozen=True)
class Accessor:
    get: Getter
    kind: Kind
    # The getter may return a list (a repeated field on the path).
    many: bool = False
    enum: EnumDescriptor | None = None


@dataclass(frozen=True)
class PayloadAccessor:
    """A protoPayload path: one accessor per payload type URL that has it."""

    by_type_url: dict[str, Accessor] = field(default_factory=dict)


PAYLOAD_TYPES: dict[str, type[Any]] = {
    "type.googleapis.com/google.appengine.logging.v1.RequestLog": RequestLog.pb(),
    "type.googleapis.com/google.cloud.audit.AuditLog": audit_log_pb2.AuditLog,
}
_LOG_ENTRY: Descriptor = LogEntry.pb().DESCRIPTOR

# Unpacked protoPayload by id(entry). The entry itself is kept in the value so
# that an id reused after garbage collection never returns a stale payload.
_payload_cache: dict[int, tuple[Any, Any]] = {}
_payload_lock = threading.Lock()
PAYLOAD_CACHE_SIZE = 100_000


def payload_of(entry: Any) -> Any:
    """The entry's protoPayload unpacked, or None for an unknown type."""
    hit = _payload_cache.get(id(entry))
    if hit is not None and hit[0] is entry:
        return hit[1]
    message = unpack_any(entry.proto_payload)
    with _payload_lock:
        if len(_payload_cache) >= PAYLOAD_CACHE_SIZE:
            for key in list(islice(_payload_cache, PAYLOAD_CACHE_SIZE // 2)):
                del _payload_cache[key]
        _payload_cache[id(entry)] = (entry, message)
    return message


def unpack_any(any_pb: Any) -> Any:
    cls = PAYLOAD_TYPES.get(any_pb.type_url)
    if cls is None:
        return None
    message = cls()
    message.ParseFromString(any_pb.value)
    return message


def leaves(value: Any) -> Iterator[str]:
    """Every scalar inside a message, map, list or JSON value, as text."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, bool | int | float):
        yield str(value).lower() if isinstance(value, bool) else _number_text(value)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from leaves(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from leaves(item)
    elif hasattr(value, "ListFields"):
        yield from _message_leaves(value)


def _message_leaves(message: Any) -> Iterator[str]:
    full_name = message.DESCRIPTOR.full_name
    if full_name == "google.protobuf.Any":
        unpacked = unpack_any(message)
        if unpacked is not None:
            yield from _message_leaves(unpacked)
        return
    if full_name == "google.protobuf.Struct":
        for item in message.fields.values():
            yield from leaves(_json_value(item))
        return
    for descriptor, value in message.ListFields():
        if _is_map(descriptor):
            for item in value.values():
                yield from leaves(item)
        elif descriptor.is_repeated:
            for item in value:
                yield from leaves(item)
        else:
            yield from leaves(value)


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _json_value(value: Any) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        return value.string_value
    if kind == "number_value":
        return value.number_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "struct_value":
        return value.struct_value
    if kind == "list_value":
        return [_json_value(item) for item in value.list_value.values]
    if kind == "null_value":
        return NULL
    return MISSING


def _json_path(struct: Any, keys: tuple[str, ...]) -> Any:
    current: Any = struct
    for index, key in enumerate(keys):
        if isinstance(current, list):
            found = [_json_path(item, keys[index:]) for item in current]
            found = [item for item in found if item is not MISSING]
            return found or MISSING
        if not hasattr(current, "fields"):
            return MISSING
        fields = current.fields
        if key not in fields:
            return MISSING
        current = _json_value(fields[key])
    return current


def _compose(first: Getter, second: Getter) -> Getter:
    def getter(value: Any) -> Any:
        current = first(value)
        if current is MISSING:
            return MISSING
        if type(current) is not list:
            return second(current)
        out: list[Any] = []
        for item in current:
            result = second(item)
            if result is MISSING:
                continue
            if type(result) is list:
                out.extend(result)
            else:
                out.append(result)
        return out or MISSING

    return getter


class _Resolver:
    def __init__(self, text: str, path: FieldPath) -> None:
        self.text = text
        self.path = path

    def fail(self, index: int, problem: str) -> FilterError:
        offset = sum(len(segment) + 1 for segment in self.path.segments[:index])
        return FilterError(self.text, self.path.position + offset, problem)

    def entry(self) -> Accessor | PayloadAccessor:
        segments = self.path.segments
        head = segments[0]
        if head in ("jsonPayload", "json_payload"):
            return self.json_payload(segments[1:])
        if head in ("protoPayload", "proto_payload"):
            return self.proto_payload(segments[1:])
        if segments == ("severity",):
            return Accessor(lambda e: e.severity, Kind.SEVERITY)
        return self.walk(_LOG_ENTRY, 0, "LogEntry")

    def json_payload(self, keys: tuple[str, ...]) -> Accessor:
        def get(entry: Any) -> Any:
            if not entry.HasField("json_payload"):
                return MISSING
            return _json_path(entry.json_payload, keys)

        return Accessor(get, Kind.DYNAMIC if keys else Kind.MESSAGE, many=True)

    def proto_payload(self, rest: tuple[str, ...]) -> Accessor | PayloadAccessor:
        if not rest:
            return Accessor(
                lambda e: e.proto_payload if e.HasField("proto_payload") else MISSING,
                Kind.MESSAGE,
            )
        if rest == ("@type",):
            return Accessor(lambda e: e.proto_payload.type_url or MISSING, Kind.STRING)
        by_type_url: dict[str, Accessor] = {}
        first_error: FilterError | None = None
        for type_url, cls in PAYLOAD_TYPES.items():
            try:
                inner = self.walk(cls.DESCRIPTOR, 1, cls.DESCRIPTOR.name)
            except FilterError as exc:
                first_error = first_error or exc
                continue
            by_type_url[type_url] = Accessor(
                _compose(_payload_getter, inner.get), inner.kind, inner.many, inner.enum
            )
        if not by_type_url:
            names = " or ".join(cls.DESCRIPTOR.name for cls in PAYLOAD_TYPES.values())
            assert first_error is not None
            raise self.fail(
                1, f"protoPayload.{'.'.join(rest)} is not a field of {names} "
                f"({first_error.problem})"
            )
        return PayloadAccessor(by_type_url)

    def walk(self, descriptor: Descriptor, index: int, where: str) -> Accessor:
        segments = self.path.segments
        getter: Getter | None = None
        many = False
        while True:
            name = segments[index]
            fd = _find_field(descriptor, name)
            if fd is None:
                raise self.fail(index, f"{where} has no field {name!r}")
            step, kind, nxt, enum_type, consumed = self.step(fd, index)
            many = many or (
                fd.is_repeated and not _is_map(fd)
            )
            getter = step if getter is None else _compose(getter, step)
            index += consumed
            where = f"{where}.{name}"
            if index >= len(segments):
                return Accessor(getter, kind, many, enum_type)
            if kind is Kind.DYNAMIC:
                return Accessor(_compose(getter, _json_getter(segments[index:])),
                                kind, True)
            if nxt is None:
                raise self.fail(index, f"{where} is {kind.value} and has no fields")
            descriptor = nxt

    def step(
        self, fd: FieldDescriptor, index: int
    ) -> tuple[Getter, Kind, Descriptor | None, EnumDescriptor | None, int]:
        """Getter for one field, its kind, the message to continue in, and
        how many path segments it used (a map key is a second segment)."""
        name = fd.name
        if _is_map(fd):
            value_fd = fd.message_type.fields_by_name["value"]
            if index + 1 >= len(self.path.segments):
                return (
                    lambda m: dict(getattr(m, name)) or MISSING,
                    Kind.MESSAGE, None, None, 1,
                )
            key = self.path.segments[index + 1]
            kind, nxt, enum_type = _leaf_kind(value_fd)
            return (
                lambda m: getattr(m, name).get(key, MISSING), kind, nxt, enum_type, 2
            )
        kind, nxt, enum_type = _leaf_kind(fd)
        if fd.is_repeated:
            convert = _converter(fd)
            return (
                lambda m: [convert(item) for item in getattr(m, name)] or MISSING,
                kind, nxt, enum_type, 1,
            )
        return _singular_getter(fd), kind, nxt, enum_type, 1


def _json_getter(keys: tuple[str, ...]) -> Getter:
    return lambda struct: _json_path(struct, keys)


def _payload_getter(entry: Any) -> Any:
    message = payload_of(entry)
    return MISSING if message is None else message


def _find_field(descriptor: Descriptor, name: str) -> FieldDescriptor | None:
    fd = descriptor.fields_by_name.get(name)
    if fd is not None:
        return fd
    for candidate in descriptor.fields:
        if candidate.json_name == name:
            return candidate
    return None


def _is_map(fd: FieldDescriptor) -> bool:
    return fd.message_type is not None and fd.message_type.GetOptions().map_entry


_NUMBER_TYPES = {
    FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT,
    FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_INT64,
    FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_UINT64,
    FieldDescriptor.TYPE_SINT32, FieldDescriptor.TYPE_SINT64,
    FieldDescriptor.TYPE_FIXED32, FieldDescriptor.TYPE_FIXED64,
    FieldDescriptor.TYPE_SFIXED32, FieldDescriptor.TYPE_SFIXED64,
}


def _leaf_kind(
    fd: FieldDescriptor,
) -> tuple[Kind, Descriptor | None, EnumDescriptor | None]:
    if fd.type == FieldDescriptor.TYPE_MESSAGE:
        full_name = fd.message_type.full_name
        if full_name == "google.protobuf.Timestamp":
            return Kind.TIMESTAMP, None, None
        if full_name == "google.protobuf.Duration":
            return Kind.DURATION, None, None
        if full_name in ("google.protobuf.Struct", "google.protobuf.Value"):
            return Kind.DYNAMIC, None, None
        return Kind.MESSAGE, fd.message_type, None
    if fd.type == FieldDescriptor.TYPE_ENUM:
        return Kind.ENUM, None, fd.enum_type
    if fd.type == FieldDescriptor.TYPE_BOOL:
        return Kind.BOOL, None, None
    if fd.type in _NUMBER_TYPES:
        return Kind.NUMBER, None, None
    return Kind.STRING, None, None


def _converter(fd: FieldDescriptor) -> Callable[[Any], Any]:
    """How one value of ``fd`` is presented to comparisons."""
    if fd.type == FieldDescriptor.TYPE_MESSAGE:
        full_name = fd.message_type.full_name
        if full_name == "google.protobuf.Timestamp":
            return lambda ts: ts.seconds * 1_000_000_000 + ts.nanos
        if full_name == "google.protobuf.Duration":
            return lambda d: d.seconds + d.nanos / 1e9
        if full_name == "google.protobuf.Value":
            return _json_value
    if fd.type == FieldDescriptor.TYPE_BYTES:
        return lambda raw: raw.decode("utf-8", "replace")
    return lambda value: value


def _singular_getter(fd: FieldDescriptor) -> Getter:
    name = fd.name
    if fd.type == FieldDescriptor.TYPE_MESSAGE:
        convert = _converter(fd)
        return lambda m: convert(getattr(m, name)) if m.HasField(name) else MISSING
    if fd.type in (FieldDescriptor.TYPE_BOOL, FieldDescriptor.TYPE_ENUM):
        return lambda m: getattr(m, name)
    if fd.has_presence:
        return lambda m: getattr(m, name) if m.HasField(name) else MISSING
    if fd.type == FieldDescriptor.TYPE_BYTES:
        return lambda m: getattr(m, name).decode("utf-8", "replace") or MISSING
    # Strings and numbers: the default value means "not set" in proto3.
    return lambda m: getattr(m, name) or MISSING


def resolve(text: str, path: FieldPath) -> Accessor | PayloadAccessor:
    """The getter for ``path``; FilterError if the LogEntry schema lacks it."""
    return _Resolver(text, path).entry()
