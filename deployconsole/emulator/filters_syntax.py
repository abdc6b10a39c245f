"""Tokens, syntax tree and parser of the Cloud Logging query language subset.

Precedence follows the Logging documentation, which differs from most
languages: NOT binds tightest, then OR, then AND (explicit or implicit by
juxtaposition), so ``a OR NOT b AND c`` is ``(a OR (NOT b)) AND c``. Boolean
operators are recognised only in upper case; a lower-case ``and`` is a value,
as in the real service.
"""

from __future__ import annotations

from dataclasses import dataclass

COMPARATORS = ("=", "!=", "<", "<=", ">", ">=", ":", "=~", "!~")
# Characters that end an unquoted word; everything else (letters, digits,
# ``.-_/@*%+`` and so on) belongs to it.
_WORD_STOPS = frozenset('()"=<>!:,') | frozenset(" \t\r\n")
_KEYWORDS = ("AND", "OR", "NOT")


class FilterError(ValueError):
    """A filter that cannot be parsed or evaluated, with where it went wrong."""

    def __init__(self, text: str, position: int, problem: str) -> None:
        self.position = position
        before = text[:position]
        self.line = before.count("\n") + 1
        self.column = position - (before.rfind("\n") + 1) + 1
        self.problem = problem
        super().__init__(
            f"Invalid filter at line {self.line}, column {self.column} "
            f"(position {position}): {problem}"
        )


@dataclass(frozen=True)
class Token:
    kind: str  # WORD STRING OP LPAREN RPAREN COMMA AND OR NOT MINUS EOF
    text: str
    position: int
    # For WORD tokens: the dot-separated parts, quoted parts kept whole.
    segments: tuple[str, ...] = ()


@dataclass(frozen=True)
class Literal:
    text: str
    quoted: bool
    position: int


@dataclass(frozen=True)
class ValueNot:
    operand: ValueExpr
    position: int


@dataclass(frozen=True)
class ValueBinary:
    op: str  # "AND" or "OR"
    left: ValueExpr
    right: ValueExpr


ValueExpr = Literal | ValueNot | ValueBinary


@dataclass(frozen=True)
class FieldPath:
    segments: tuple[str, ...]
    position: int

    @property
    def dotted(self) -> str:
        return ".".join(self.segments)


@dataclass(frozen=True)
class Comparison:
    field: FieldPath
    op: str
    value: ValueExpr
    position: int


@dataclass(frozen=True)
class GlobalRestriction:
    """A bare value: matches entries having it in any field."""

    value: Literal


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple[FieldPath | Literal, ...]
    position: int


@dataclass(frozen=True)
class Not:
    operand: Node
    position: int


@dataclass(frozen=True)
class Binary:
    op: str  # "AND" or "OR"
    left: Node
    right: Node


Node = Comparison | GlobalRestriction | Call | Not | Binary


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in " \t\r\n":
            i += 1
            continue
        start = i
        if ch in "(),":
            kind = {"(": "LPAREN", ")": "RPAREN", ",": "COMMA"}[ch]
            tokens.append(Token(kind, ch, start))
            i += 1
        elif text.startswith(("<=", ">=", "!=", "=~", "!~"), i):
            tokens.append(Token("OP", text[i : i + 2], start))
            i += 2
        elif ch in "=<>:":
            tokens.append(Token("OP", ch, start))
            i += 1
        elif ch == "!":
            raise FilterError(text, i, "'!' must be followed by '=' or '~'")
        elif ch == '"':
            value, i = _read_string(text, i)
            tokens.append(Token("STRING", value, start))
        elif ch == "-" and _minus_is_negation(tokens, text, i):
            tokens.append(Token("MINUS", "-", start))
            i += 1
        else:
            token, i = _read_word(text, i)
            tokens.append(token)
    tokens.append(Token("EOF", "", n))
    return tokens


def _minus_is_negation(tokens: list[Token], text: str, i: int) -> bool:
    # A leading '-' negates the term it touches; after a comparator it is the
    # sign of a value such as -1.
    if i + 1 >= len(text) or text[i + 1] in " \t\r\n":
        return False
    return not tokens or tokens[-1].kind != "OP"


def _read_string(text: str, i: int) -> tuple[str, int]:
    start = i
    i += 1
    out: list[str] = []
    escapes = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}
    while i < len(text):
        ch = text[i]
        if ch == '"':
            return "".join(out), i + 1
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            out.append(escapes.get(nxt, "\\" + nxt))
            i += 2
            continue
        out.append(ch)
        i += 1
    raise FilterError(text, start, "unterminated quoted string")


def _read_word(text: str, i: int) -> tuple[Token, int]:
    start = i
    segments: list[str] = []
    current: list[str] = []
    while i < len(text):
        ch = text[i]
        if ch == '"' and i > start and text[i - 1] == ".":
            # A quoted segment of a field path: labels."a.b".
            value, i = _read_string(text, i)
            current.append(value)
            continue
        if ch in _WORD_STOPS:
            break
        if ch == ".":
            segments.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    segments.append("".join(current))
    raw = text[start:i]
    kind = raw if raw in _KEYWORDS else "WORD"
    return Token(kind, raw, start, tuple(segments)), i


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.index = 0

    @property
    def token(self) -> Token:
        return self.tokens[self.index]

    def peek(self, offset: int = 1) -> Token:
        return self.tokens[min(self.index + offset, len(self.tokens) - 1)]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def fail(self, token: Token, problem: str) -> FilterError:
        return FilterError(self.text, token.position, problem)

    def expect(self, kind: str, what: str) -> Token:
        if self.token.kind != kind:
            found = _describe(self.token)
            raise self.fail(self.token, f"expected {what}, found {found}")
        return self.advance()

    def parse(self) -> Node | None:
        if self.token.kind == "EOF":
            return None
        node = self.expression()
        if self.token.kind != "EOF":
            raise self.fail(self.token, f"unexpected {_describe(self.token)}")
        return node

    def expression(self) -> Node:
        left = self.disjunction()
        while True:
            if self.token.kind == "AND":
                self.advance()
            elif self.token.kind not in ("WORD", "STRING", "LPAREN", "NOT", "MINUS"):
                return left
            left = Binary("AND", left, self.disjunction())

    def disjunction(self) -> Node:
        left = self.unary()
        while self.token.kind == "OR":
            self.advance()
            left = Binary("OR", left, self.unary())
        return left

    def unary(self) -> Node:
        if self.token.kind in ("NOT", "MINUS"):
            token = self.advance()
            return Not(self.unary(), token.position)
        return self.primary()

    def primary(self) -> Node:
        token = self.token
        if token.kind == "LPAREN":
            self.advance()
            node = self.expression()
            self.expect("RPAREN", "')'")
            return node
        if token.kind == "WORD":
            nxt = self.peek()
            if nxt.kind == "OP":
                return self.comparison()
            if nxt.kind == "LPAREN" and len(token.segments) == 1:
                return self.call()
            self.advance()
            return GlobalRestriction(Literal(token.text, False, token.position))
        if token.kind == "STRING":
            self.advance()
            if self.token.kind == "OP":
                raise self.fail(token, "a field name cannot be a quoted string")
            return GlobalRestriction(Literal(token.text, True, token.position))
        raise self.fail(token, f"expected a comparison, found {_describe(token)}")

    def field_path(self) -> FieldPath:
        token = self.expect("WORD", "a field name")
        if any(not segment for segment in token.segments):
            raise self.fail(token, f"malformed field name {token.text!r}")
        return FieldPath(token.segments, token.position)

    def comparison(self) -> Comparison:
        path = self.field_path()
        op = self.advance()
        return Comparison(path, op.text, self.right_hand_side(op), op.position)

    def right_hand_side(self, op: Token) -> ValueExpr:
        if self.token.kind == "LPAREN":
            self.advance()
            value = self.value_expression()
            self.expect("RPAREN", "')'")
            return value
        if self.token.kind in ("WORD", "STRING"):
            return self.literal()
        found = _describe(self.token)
        raise self.fail(
            self.token, f"expected a value after {op.text!r}, found {found}"
        )

    def literal(self) -> Literal:
        token = self.advance()
        return Literal(token.text, token.kind == "STRING", token.position)

    def value_expression(self) -> ValueExpr:
        left = self.value_disjunction()
        while True:
            if self.token.kind == "AND":
                self.advance()
            elif self.token.kind not in ("WORD", "STRING", "LPAREN", "NOT", "MINUS"):
                return left
            left = ValueBinary("AND", left, self.value_disjunction())

    def value_disjunction(self) -> ValueExpr:
        left = self.value_unary()
        while self.token.kind == "OR":
            self.advance()
            left = ValueBinary("OR", left, self.value_unary())
        return left

    def value_unary(self) -> ValueExpr:
        token = self.token
        if token.kind in ("NOT", "MINUS"):
            self.advance()
            return ValueNot(self.value_unary(), token.position)
        if token.kind == "LPAREN":
            self.advance()
            value = self.value_expression()
            self.expect("RPAREN", "')'")
            return value
        if token.kind in ("WORD", "STRING"):
            return self.literal()
        raise self.fail(token, f"expected a value, found {_describe(token)}")

    def call(self) -> Call:
        name = self.advance()
        self.expect("LPAREN", "'('")
        args: list[FieldPath | Literal] = []
        while self.token.kind != "RPAREN":
            if args:
                self.expect("COMMA", "',' or ')'")
            token = self.token
            if token.kind == "WORD" and token.text[:1].isalpha():
                args.append(self.field_path())
            elif token.kind in ("WORD", "STRING"):
                args.append(self.literal())
            else:
                found = _describe(token)
                raise self.fail(token, f"expected an argument, found {found}")
        self.advance()
        return Call(name.text, tuple(args), name.position)


def _describe(token: Token) -> str:
    if token.kind == "EOF":
        return "the end of the filter"
    if token.kind == "STRING":
        return f'"{token.text}"'
    return repr(token.text)


def parse(text: str) -> Node | None:
    """The syntax tree of ``text``; None for an empty filter (matches all)."""
    return _Parser(text).parse()
