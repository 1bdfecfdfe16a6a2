"""The rule language: a whitelist grammar parsed into a small typed tree, never `eval`.

    crossover(sma(close, fast), sma(close, slow)) and rsi(close, 14) < 70

Grammar, loosest binding first::

    rule     := or
    or       := and ("or" and)*
    and      := not ("and" not)*
    not      := "not" not | compare
    compare  := sum (("<" | "<=" | ">" | ">=" | "==" | "!=") sum)?
    sum      := product (("+" | "-") product)*
    product  := unary (("*" | "/") unary)*
    unary    := "-" unary | postfix
    postfix  := primary ("[" integer "]")?
    primary  := number | name | name "(" args ")" | "(" rule ")"

Names are the price series (open high low close volume), the strategy's parameters and
the functions of `functions.FUNCTIONS`. Every node has a kind: a number (constant),
a series (one float per bar) or a condition (one boolean per bar); a rule must be a
condition. Periods and lookbacks must be constants (numbers or parameters). Errors
carry the line and column of the offending token and, for a misspelt name, a hint.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass

from shared.rules.functions import FUNCTIONS, MAX_PERIOD, ArgKind, Kind

__all__ = [
    "KEYWORDS",
    "MAX_DEPTH",
    "MAX_NODES",
    "MAX_RULE_CHARS",
    "PRICE_SERIES",
    "RESERVED_NAMES",
    "Binary",
    "Call",
    "Node",
    "Number",
    "Parameter",
    "Price",
    "RuleError",
    "Shift",
    "Unary",
    "parse_constraint",
    "parse_rule",
]

MAX_RULE_CHARS = 500
MAX_DEPTH = 24
MAX_NODES = 200
PRICE_SERIES = ("open", "high", "low", "close", "volume")
KEYWORDS = ("and", "or", "not")
RESERVED_NAMES = frozenset({*PRICE_SERIES, *KEYWORDS, *FUNCTIONS})
_TOKEN = re.compile(
    r"\s*(?:(?P<number>\d+(?:\.\d*)?|\.\d+)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op><=|>=|==|!=|[-+*/<>()\[\],]))"
)


class RuleError(ValueError):
    """A rule that cannot be used, with where (1-based line and column) and a hint."""

    def __init__(self, message: str, line: int, column: int, hint: str = "") -> None:
        self.message, self.line, self.column, self.hint = message, line, column, hint
        suffix = f", {hint}" if hint else ""
        super().__init__(f"{message} at {line}:{column}{suffix}")


@dataclass(frozen=True)
class Number:
    value: float
    kind = Kind.NUMBER


@dataclass(frozen=True)
class Parameter:
    name: str
    kind = Kind.NUMBER


@dataclass(frozen=True)
class Price:
    name: str
    kind = Kind.SERIES


@dataclass(frozen=True)
class Call:
    function: str
    args: tuple[Node, ...]
    kind: Kind


@dataclass(frozen=True)
class Shift:
    """`operand[bars]`: the value `bars` bars earlier."""

    operand: Node
    bars: int
    kind: Kind


@dataclass(frozen=True)
class Unary:
    op: str  # "-" or "not"
    operand: Node
    kind: Kind


@dataclass(frozen=True)
class Binary:
    op: str  # + - * / < <= > >= == != and or
    left: Node
    right: Node
    kind: Kind


Node = Number | Parameter | Price | Call | Shift | Unary | Binary


@dataclass(frozen=True)
class _Token:
    kind: str  # number, name, op, end
    text: str
    offset: int


def parse_rule(text: str, parameters: Collection[str]) -> Node:
    """The tree of a rule that uses only `parameters` besides prices and functions."""
    return _parse(text, frozenset(parameters), constraint=False)


def parse_constraint(text: str, parameters: Collection[str]) -> Node:
    """The tree of a condition on parameter values alone, such as `fast < slow`, which a
    parameter sweep uses to leave out combinations: the same grammar as a rule, without
    prices or functions."""
    return _parse(text, frozenset(parameters), constraint=True)


@functools.lru_cache(maxsize=1_024)
def _parse(text: str, parameters: frozenset[str], constraint: bool) -> Node:
    """Cached: a strategy's rules are validated every time a request or a stored record
    carries them, and the tree (immutable) is the same every time."""
    if len(text) > MAX_RULE_CHARS:
        raise RuleError(f"rule longer than {MAX_RULE_CHARS} characters", 1, MAX_RULE_CHARS + 1)
    parser = _Parser(text, parameters, constraint)
    node = parser.rule()
    if node.kind is not Kind.CONDITION:
        raise parser.error(
            f"a rule must be a condition, this is a {node.kind.value}",
            0,
            "compare it, as in " + ("'fast < slow'" if constraint else "'close > sma(close, 20)'"),
        )
    return node


class _Parser:
    def __init__(self, text: str, parameters: frozenset[str], constraint: bool) -> None:
        self._text = text
        self._parameters = parameters
        self._constraint = constraint
        self._tokens = self._tokenize()
        self._next = 0
        self._depth = 0
        self._nodes = 0

    def rule(self) -> Node:
        node = self._or()
        token = self._peek()
        if token.kind != "end":
            raise self.error(f"unexpected '{token.text}'", token.offset)
        return node

    def error(self, message: str, offset: int, hint: str = "") -> RuleError:
        line = self._text.count("\n", 0, offset) + 1
        column = offset - (self._text.rfind("\n", 0, offset) + 1) + 1
        return RuleError(message, line, column, hint)

    def _tokenize(self) -> list[_Token]:
        tokens, offset = [], 0
        stripped_end = len(self._text.rstrip())
        while offset < stripped_end:
            match = _TOKEN.match(self._text, offset)
            if match is None or match.lastgroup is None:
                bad = offset + len(self._text[offset:]) - len(self._text[offset:].lstrip())
                raise self.error(f"unexpected character '{self._text[bad]}'", bad)
            kind = match.lastgroup
            tokens.append(_Token(kind, match.group(kind), match.start(kind)))
            offset = match.end()
        tokens.append(_Token("end", "end of rule", stripped_end))
        return tokens

    def _peek(self) -> _Token:
        return self._tokens[self._next]

    def _take(self) -> _Token:
        token = self._tokens[self._next]
        self._next += 1
        return token

    def _accept(self, *texts: str) -> _Token | None:
        token = self._peek()
        if token.kind in ("op", "name") and token.text in texts:
            return self._take()
        return None

    def _expect(self, text: str) -> _Token:
        token = self._take()
        if token.text != text or token.kind not in ("op", "name"):
            raise self.error(f"expected '{text}', found '{token.text}'", token.offset)
        return token

    def _node(self, node: Node) -> Node:
        self._nodes += 1
        if self._nodes > MAX_NODES:
            raise self.error(f"rule has more than {MAX_NODES} parts", self._peek().offset)
        return node

    def _logic(self, op: str, operand: Node, token: _Token) -> Node:
        if operand.kind is not Kind.CONDITION:
            raise self.error(f"'{op}' needs conditions, not a {operand.kind.value}", token.offset)
        return operand

    def _or(self) -> Node:
        return self._logical("or", self._and)

    def _and(self) -> Node:
        return self._logical("and", self._not)

    def _logical(self, op: str, operand: Callable[[], Node]) -> Node:
        left = operand()
        while token := self._accept(op):
            right = operand()
            left = self._node(
                Binary(
                    op,
                    self._logic(op, left, token),
                    self._logic(op, right, token),
                    Kind.CONDITION,
                )
            )
        return left

    def _not(self) -> Node:
        if token := self._accept("not"):
            operand = self._nested(self._not)
            return self._node(Unary("not", self._logic("not", operand, token), Kind.CONDITION))
        return self._compare()

    def _compare(self) -> Node:
        left = self._sum()
        if token := self._accept("<", "<=", ">", ">=", "==", "!="):
            right = self._sum()
            for side in (left, right):
                if side.kind is Kind.CONDITION:
                    raise self.error(
                        f"'{token.text}' compares numbers or series, not conditions", token.offset
                    )
            if left.kind is Kind.NUMBER and right.kind is Kind.NUMBER and not self._constraint:
                raise self.error("comparing two constants is always the same", token.offset)
            return self._node(Binary(token.text, left, right, Kind.CONDITION))
        return left

    def _sum(self) -> Node:
        left = self._product()
        while token := self._accept("+", "-"):
            left = self._arithmetic(token, left, self._product())
        return left

    def _product(self) -> Node:
        left = self._unary()
        while token := self._accept("*", "/"):
            left = self._arithmetic(token, left, self._unary())
        return left

    def _arithmetic(self, token: _Token, left: Node, right: Node) -> Node:
        for side in (left, right):
            if side.kind is Kind.CONDITION:
                raise self.error(f"'{token.text}' needs numbers or series", token.offset)
        both_numbers = left.kind is Kind.NUMBER and right.kind is Kind.NUMBER
        return self._node(
            Binary(token.text, left, right, Kind.NUMBER if both_numbers else Kind.SERIES)
        )

    def _unary(self) -> Node:
        if token := self._accept("-"):
            operand = self._nested(self._unary)
            if operand.kind is Kind.CONDITION:
                raise self.error("'-' needs a number or a series", token.offset)
            return self._node(Unary("-", operand, operand.kind))
        return self._postfix()

    def _postfix(self) -> Node:
        node = self._primary()
        if token := self._accept("["):
            if node.kind is Kind.NUMBER:
                raise self.error("only a series or condition has earlier bars", token.offset)
            bars = self._integer("a bar offset", 0, MAX_PERIOD)
            self._expect("]")
            return self._node(Shift(node, bars, node.kind))
        return node

    def _integer(self, what: str, low: int, high: int) -> int:
        token = self._take()
        if token.kind != "number" or "." in token.text:
            raise self.error(f"{what} must be a whole number, found '{token.text}'", token.offset)
        value = int(token.text)
        if not low <= value <= high:
            raise self.error(f"{what} must be between {low} and {high}", token.offset)
        return value

    def _nested(self, parse: Callable[[], Node]) -> Node:
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise self.error(f"rule nested deeper than {MAX_DEPTH}", self._peek().offset)
        try:
            return parse()
        finally:
            self._depth -= 1

    def _primary(self) -> Node:
        token = self._take()
        if token.kind == "number":
            return self._node(Number(float(token.text)))
        if token.kind == "op" and token.text == "(":
            node = self._nested(self._or)
            self._expect(")")
            return node
        if token.kind != "name" or token.text in KEYWORDS:
            raise self.error(f"expected a value, found '{token.text}'", token.offset)
        name = token.text
        if name in self._parameters:
            return self._node(Parameter(name))
        if self._constraint:
            known = sorted(self._parameters)
            raise self.error(
                f"a constraint uses only parameters and numbers, not '{name}'",
                token.offset,
                _did_you_mean(name, known),
            )
        if self._peek().text == "(" and self._peek().kind == "op":
            return self._call(token)
        if name in PRICE_SERIES:
            return self._node(Price(name))
        if name in FUNCTIONS:
            raise self.error(f"'{name}' is a function", token.offset, f"call it: {name}(...)")
        known = [*PRICE_SERIES, *sorted(self._parameters)]
        raise self.error(f"unknown name '{name}'", token.offset, _did_you_mean(name, known))

    def _call(self, name_token: _Token) -> Node:
        name = name_token.text
        function = FUNCTIONS.get(name)
        if function is None:
            raise self.error(
                f"unknown function '{name}'", name_token.offset, _did_you_mean(name, FUNCTIONS)
            )
        self._expect("(")
        args: list[Node] = []
        if not self._accept(")"):
            while True:
                arg_token = self._peek()
                arg = self._nested(self._or)
                args.append(self._check_arg(name, len(args), arg, arg_token))
                if self._accept(")"):
                    break
                self._expect(",")
        if not function.min_args <= len(args) <= len(function.args):
            expected = function.signature()
            raise self.error(
                f"{name} takes {expected}, given {len(args)} argument(s)", name_token.offset
            )
        return self._node(Call(name, tuple(args), function.result))

    def _check_arg(self, function: str, position: int, arg: Node, token: _Token) -> Node:
        spec = FUNCTIONS[function]
        if position >= len(spec.args):
            raise self.error(f"{function} takes {spec.signature()}", token.offset)
        expected = spec.args[position]
        if expected is ArgKind.SERIES and arg.kind is not Kind.SERIES:
            raise self.error(
                f"argument {position + 1} of {function} must be a series, not a {arg.kind.value}",
                token.offset,
            )
        if expected in (ArgKind.PERIOD, ArgKind.NUMBER):
            if not isinstance(arg, Number | Parameter):
                raise self.error(
                    f"argument {position + 1} of {function} must be a number or a parameter",
                    token.offset,
                )
            if (
                expected is ArgKind.PERIOD
                and isinstance(arg, Number)
                and not (arg.value.is_integer() and 1 <= arg.value <= MAX_PERIOD)
            ):
                raise self.error(
                    f"a period must be a whole number from 1 to {MAX_PERIOD}", token.offset
                )
        return arg


def _did_you_mean(name: str, known: Collection[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else ""
