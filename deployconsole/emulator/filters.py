"""The Cloud Logging query language, as far as the console needs it.

``compile_filter(text)`` parses a filter once and returns a predicate over
raw ``google.logging.v2.LogEntry`` protobuf messages; ListLogEntries and
every tail session evaluate it per entry, so the work that can be done ahead
(field lookup, literal parsing, lower-casing) is done here, once.

Semantics follow the Logging documentation: string comparisons ignore case
(regular expressions do not), ``:`` is "has" (substring; on a message, any
field inside it), ``FIELD:*`` tests presence, ``!=`` is the negation of
``=``, severity compares by level, timestamps take RFC 3339 values, a
repeated field matches if any element does, and a bare value matches an
entry that has it anywhere. Whatever cannot be evaluated is a FilterError
naming its position, never a filter that quietly matches nothing.
"""

from __future__ import annotations

import hashlib
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

from deployconsole.emulator.filters_fields import (
    MISSING,
    NULL,
    Accessor,
    Kind,
    PayloadAccessor,
    leaves,
    resolve,
)
from deployconsole.emulator.filters_syntax import (
    Binary,
    Call,
    Comparison,
    FieldPath,
    FilterError,
    GlobalRestriction,
    Literal,
    Node,
    Not,
    ValueBinary,
    ValueExpr,
    ValueNot,
    parse,
)

__all__ = ["FilterError", "Predicate", "compile_filter", "parse", "SEVERITY_LEVELS"]

Predicate = Callable[[Any], bool]
Test = Callable[[Any], bool]

MAX_FILTER_LENGTH = 20_000
SEVERITY_LEVELS = {
    "DEFAULT": 0, "DEBUG": 100, "INFO": 200, "NOTICE": 300, "WARNING": 400,
    "ERROR": 500, "CRITICAL": 600, "ALERT": 700, "EMERGENCY": 800,
}
_ORDERING = {
    "=": operator.eq, ":": operator.eq, "<": operator.lt, "<=": operator.le,
    ">": operator.gt, ">=": operator.ge,
}
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:?\d{2}))?$"
)


def match_all(entry: Any) -> bool:
    return True


def compile_filter(text: str) -> Predicate:
    """A predicate for ``text``; raises FilterError for what it cannot do."""
    if len(text) > MAX_FILTER_LENGTH:
        raise FilterError(
            text, MAX_FILTER_LENGTH,
            f"a filter may be at most {MAX_FILTER_LENGTH} characters long",
        )
    node = parse(text)
    if node is None:
        return match_all
    return _Compiler(text).node(node)


def timestamp_nanos(text: str) -> int | None:
    """Nanoseconds since the epoch for an RFC 3339 time (or a bare date)."""
    match = _RFC3339.match(text.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        moment = datetime(
            int(year), int(month), int(day),
            int(hour or 0), int(minute or 0), int(second or 0), tzinfo=timezone.utc,
        )
    except ValueError:
        return None
    if zone and zone not in "Zz":
        sign = -1 if zone[0] == "-" else 1
        moment -= sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[-2:]))
    nanos = int((fraction or "").ljust(9, "0"))
    return int(moment.timestamp()) * 1_000_000_000 + nanos


@dataclass(frozen=True)
class _Value:
    """A literal in the forms each field kind compares against."""

    text: str
    lower: str
    number: float | None
    boolean: bool | None
    is_null: bool
    is_star: bool

    @classmethod
    def of(cls, literal: Literal) -> _Value:
        text = literal.text
        try:
            number: float | None = float(text)
        except ValueError:
            number = None
        lowered = text.lower()
        boolean = {"true": True, "false": False}.get(lowered)
        unquoted = not literal.quoted
        return cls(
            text, lowered, number, boolean,
            is_null=unquoted and text == "NULL_VALUE",
            is_star=unquoted and text == "*",
        )


def _any_of(test: Test) -> Test:
    """Lift a test on one value to a getter result that may be a list."""

    def lifted(value: Any) -> bool:
        if type(value) is list:
            return any(test(item) for item in value)
        return test(value)

    return lifted


class _Compiler:
    def __init__(self, text: str) -> None:
        self.text = text

    def fail(self, position: int, problem: str) -> FilterError:
        return FilterError(self.text, position, problem)

    def node(self, node: Node) -> Predicate:
        if isinstance(node, Binary):
            left, right = self.node(node.left), self.node(node.right)
            if node.op == "AND":
                return lambda e: left(e) and right(e)
            return lambda e: left(e) or right(e)
        if isinstance(node, Not):
            inner = self.node(node.operand)
            return lambda e: not inner(e)
        if isinstance(node, GlobalRestriction):
            return self.global_restriction(node.value)
        if isinstance(node, Call):
            return self.call(node)
        return self.comparison(node)

    def global_restriction(self, literal: Literal) -> Predicate:
        needle = literal.text.lower()
        return lambda e: any(needle in leaf.lower() for leaf in leaves(e))

    def call(self, node: Call) -> Predicate:
        if node.name == "sample":
            return self.sample(node)
        if node.name == "log_id":
            if len(node.args) != 1 or not isinstance(node.args[0], Literal):
                raise self.fail(node.position, "log_id takes one quoted log ID")
            log_id = node.args[0].text
            suffixes = ("/logs/" + log_id, "/logs/" + quote(log_id, safe=""))
            return lambda e: e.log_name.endswith(suffixes)
        raise self.fail(
            node.position,
            f"unsupported function {node.name!r}; supported: sample, log_id",
        )

    def sample(self, node: Call) -> Predicate:
        args = node.args
        if (
            len(args) != 2
            or not isinstance(args[0], FieldPath)
            or args[0].segments not in (("insertId",), ("insert_id",))
            or not isinstance(args[1], Literal)
        ):
            raise self.fail(node.position, "sample takes (insertId, FRACTION)")
        fraction = _Value.of(args[1]).number
        if fraction is None or not 0.0 <= fraction <= 1.0:
            raise self.fail(
                args[1].position, f"sample fraction {args[1].text!r} is not in [0, 1]"
            )
        threshold = int(fraction * 2**64)
        return lambda e: _insert_id_hash(e.insert_id) < threshold

    def comparison(self, node: Comparison) -> Predicate:
        accessor = resolve(self.text, node.field)
        op = node.op
        if op in ("!=", "!~"):
            positive = "=" if op == "!=" else "=~"
            inner = self.value_tree(accessor, node, positive, node.value)
            return lambda e: not inner(e)
        return self.value_tree(accessor, node, op, node.value)

    def value_tree(
        self, accessor: Accessor | PayloadAccessor, node: Comparison, op: str,
        value: ValueExpr,
    ) -> Predicate:
        if isinstance(value, ValueBinary):
            left = self.value_tree(accessor, node, op, value.left)
            right = self.value_tree(accessor, node, op, value.right)
            if value.op == "AND":
                return lambda e: left(e) and right(e)
            return lambda e: left(e) or right(e)
        if isinstance(value, ValueNot):
            inner = self.value_tree(accessor, node, op, value.operand)
            return lambda e: not inner(e)
        if isinstance(accessor, PayloadAccessor):
            return self.payload(accessor, node, op, value)
        return self.leaf(accessor, node, op, value)

    def payload(
        self, accessor: PayloadAccessor, node: Comparison, op: str, literal: Literal
    ) -> Predicate:
        # Each payload type compiles on its own: a literal that suits one
        # type's field but not another's just never matches the other type.
        table: dict[str, Predicate] = {}
        first_error: FilterError | None = None
        for type_url, typed in accessor.by_type_url.items():
            try:
                table[type_url] = self.leaf(typed, node, op, literal)
            except FilterError as exc:
                first_error = first_error or exc
        if not table:
            assert first_error is not None
            raise first_error

        def predicate(entry: Any) -> bool:
            test = table.get(entry.proto_payload.type_url)
            return test is not None and test(entry)

        return predicate

    def leaf(
        self, accessor: Accessor, node: Comparison, op: str, literal: Literal
    ) -> Predicate:
        value = _Value.of(literal)
        get = accessor.get
        if op == ":" and value.is_star:
            return lambda e: get(e) is not MISSING
        test = self.test(accessor, node, op, value, literal)
        if accessor.many or accessor.kind in (Kind.DYNAMIC, Kind.MESSAGE):
            test = _any_of(test)

        def predicate(entry: Any) -> bool:
            found = get(entry)
            return found is not MISSING and test(found)

        return predicate

    def test(
        self, accessor: Accessor, node: Comparison, op: str, value: _Value,
        literal: Literal,
    ) -> Test:
        kind = accessor.kind
        where = node.field.dotted
        if op == "=~":
            if kind not in (Kind.STRING, Kind.DYNAMIC):
                raise self.fail(node.position, f"=~ needs a text field; {where} is "
                                f"{kind.value}")
            try:
                pattern = re.compile(value.text)
            except re.error as exc:
                raise self.fail(
                    literal.position, f"bad regular expression: {exc}"
                ) from None
            return lambda v: isinstance(v, str) and pattern.search(v) is not None
        if kind is Kind.STRING:
            return _string_test(op, value.lower)
        if kind is Kind.DYNAMIC:
            return _dynamic_test(op, value)
        if kind is Kind.MESSAGE:
            if op != ":":
                raise self.fail(
                    node.position,
                    f"{where} is a message: only ':' (has) applies to it",
                )
            return _has_test(value.lower)
        number = self.number_for(accessor, node, value, literal)
        compare = _ORDERING[op]
        return lambda v: compare(v, number)

    def number_for(
        self, accessor: Accessor, node: Comparison, value: _Value, literal: Literal
    ) -> float:
        kind, where = accessor.kind, node.field.dotted
        number: float | None
        if kind is Kind.SEVERITY:
            number = SEVERITY_LEVELS.get(value.text.upper(), value.number)
            expected = "a severity such as ERROR or a number"
        elif kind is Kind.ENUM:
            assert accessor.enum is not None
            named = accessor.enum.values_by_name.get(value.text.upper())
            number = named.number if named is not None else value.number
            names = ", ".join(accessor.enum.values_by_name)
            expected = f"one of {names}"
        elif kind is Kind.TIMESTAMP:
            # Kept as an int: nanoseconds since 1970 overflow a float's
            # precision.
            number = timestamp_nanos(value.text)
            expected = 'an RFC 3339 time such as "2025-11-18T09:00:00Z"'
        elif kind is Kind.DURATION:
            text = value.text[:-1] if value.text.endswith("s") else value.text
            number = _Value.of(Literal(text, True, 0)).number
            expected = 'a duration such as "1.5s"'
        elif kind is Kind.BOOL:
            number = None if value.boolean is None else float(value.boolean)
            expected = "true or false"
        else:
            number = value.number
            expected = "a number"
        if number is None:
            raise self.fail(
                literal.position,
                f"{where} is {kind.value}: expected {expected}, not {literal.text!r}",
            )
        if kind is Kind.TIMESTAMP and node.op == ":":
            raise self.fail(node.position, f"':' does not apply to {where}; use = < >")
        return number


def _string_test(op: str, needle: str) -> Test:
    if op == ":":
        return lambda v: isinstance(v, str) and needle in v.lower()
    compare = _ORDERING[op]
    return lambda v: isinstance(v, str) and compare(v.lower(), needle)


def _has_test(needle: str) -> Test:
    return lambda v: any(needle in leaf.lower() for leaf in leaves(v))


def _dynamic_test(op: str, value: _Value) -> Test:
    """A comparison whose field type is known only per entry (JSON values)."""
    compare = _ORDERING[op]
    string_test = _string_test(op, value.lower)
    has_test = _has_test(value.lower)

    def test(found: Any) -> bool:
        if found is NULL:
            return value.is_null and op in ("=", ":")
        if isinstance(found, bool):
            return value.boolean is not None and compare(found, value.boolean)
        if isinstance(found, float):
            if value.number is not None:
                return bool(compare(found, value.number))
            return False
        if isinstance(found, str):
            return string_test(found)
        return op == ":" and has_test(found)

    return test


def _insert_id_hash(insert_id: str) -> int:
    digest = hashlib.blake2b(insert_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")
