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
the functions of `functions.FUNCTIONS`; where a function takes a moving-average type,
its name (`sma`, `ema`, ...). Numbers are written in ASCII digits. Every node has a
kind: a number (constant), a series (one float per bar) or a condition (one boolean per
bar); a rule must be a condition. Periods and lookbacks must be constants (numbers or
parameters). Each error carries the line and column of the offending token and, for a
misspelt name, a hint; a rule reports every error it can find at once (parsing goes on
past a wrong name or kind, and stops at the first error of syntax).
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import NoReturn

from shared.rules.functions import (
    FUNCTIONS,
    MAX_PERIOD,
    MOVING_AVERAGES,
    PRICE_SERIES,
    ArgKind,
    Function,
    Kind,
)

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
    "RuleProblem",
    "Shift",
    "Unary",
    "parse_constraint",
    "parse_rule",
]

MAX_RULE_CHARS = 500
MAX_DEPTH = 24
MAX_NODES = 200
KEYWORDS = ("and", "or", "not")
# Names a parameter cannot take. A function's name is free for a parameter: a name
# followed by "(" is always the function.
RESERVED_NAMES = frozenset({*PRICE_SERIES, *KEYWORDS, *MOVING_AVERAGES})
_SPACE = " \t\n\r\f\v"
# ASCII only: `\d` and `\s` would also take other scripts' digits and spaces.
_TOKEN = re.compile(
    r"\s*(?:(?P<number>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op><=|>=|==|!=|[-+*/<>()\[\],]))",
    re.ASCII,
)


@dataclass(frozen=True)
class RuleProblem:
    """One thing wrong in a rule, where (1-based line and column), and a hint."""

    message: str
    line: int
    column: int
    hint: str = ""

    def __str__(self) -> str:
        suffix = f", {self.hint}" if self.hint else ""
        return f"{self.message} at {self.line}:{self.column}{suffix}"


class RuleError(ValueError):
    """A rule that cannot be used: every problem found in it, in the order of the text."""

    def __init__(self, problems: list[RuleProblem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(problem) for problem in problems))

    @property
    def line(self) -> int:
        return self.problems[0].line

    @property
    def column(self) -> int:
        return self.problems[0].column


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


def children(node: Node) -> tuple[Node, ...]:
    """The nodes `node` is made of, in order."""
    match node:
        case Call(args=args):
            return args
        case Shift(operand=operand) | Unary(operand=operand):
            return (operand,)
        case Binary(left=left, right=right):
            return (left, right)
    return ()


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


def parse_series(text: str) -> Node:
    """The tree of a series alone, such as `sma(close, 20)`: a line a chart draws (see
    `lines`), with numbers where a rule has parameters."""
    return _parse(text, frozenset(), constraint=False, wanted=Kind.SERIES)


@functools.lru_cache(maxsize=1_024)
def _parse(
    text: str, parameters: frozenset[str], constraint: bool, wanted: Kind = Kind.CONDITION
) -> Node:
    """Cached: a strategy's rules are validated every time a request or a stored record
    carries them, and the tree (immutable) is the same every time."""
    if len(text) > MAX_RULE_CHARS:
        problem = RuleProblem(
            f"rule longer than {MAX_RULE_CHARS} characters", 1, MAX_RULE_CHARS + 1
        )
        raise RuleError([problem])
    parser = _Parser(text, parameters, constraint)
    try:
        node = parser.rule()
        if wanted is Kind.SERIES and node.kind is not Kind.SERIES:
            parser.refuse(
                f"a line must be a series, this is a {node.kind.value}",
                0,
                "a function of prices, as in 'sma(close, 20)'",
            )
        elif node.kind is not wanted and not parser.unknown(node):
            parser.refuse(
                f"a rule must be a condition, this is a {node.kind.value}",
                0,
                "compare it, as in "
                + ("'fast < slow'" if constraint else "'close > sma(close, 20)'"),
            )
    except _Stop:
        pass
    if parser.problems:
        raise RuleError(sorted(parser.problems, key=lambda p: (p.line, p.column)))
    return node


class _Stop(Exception):
    """An error of syntax: the parser cannot go on."""


class _Parser:
    def __init__(self, text: str, parameters: frozenset[str], constraint: bool) -> None:
        self._text = text
        self.problems: list[RuleProblem] = []
        self._parameters = parameters
        self._constraint = constraint
        self._tokens = self._tokenize()
        self._next = 0
        self._depth = 0
        self._nodes = 0
        # Nodes standing for something already refused (an unknown name or function):
        # their kind is a guess, so no further error is reported about it.
        self._stand_ins: list[Node] = []

    def rule(self) -> Node:
        if self.problems:  # unreadable characters: nothing to parse
            raise _Stop
        node = self._or()
        token = self._peek()
        if token.kind != "end":
            self.stop(f"unexpected '{token.text}'", token.offset)
        return node

    def refuse(self, message: str, offset: int, hint: str = "") -> None:
        """Record a problem and go on parsing."""
        line = self._text.count("\n", 0, offset) + 1
        column = offset - (self._text.rfind("\n", 0, offset) + 1) + 1
        self.problems.append(RuleProblem(message, line, column, hint))

    def stop(self, message: str, offset: int, hint: str = "") -> NoReturn:
        """Record an error of syntax, after which nothing more can be parsed."""
        self.refuse(message, offset, hint)
        raise _Stop

    def unknown(self, node: Node) -> bool:
        return any(node is stand_in for stand_in in self._stand_ins)

    def _stand_in(self, kind: Kind) -> Node:
        node: Node = Price("close") if kind is Kind.SERIES else Number(0.0)
        self._stand_ins.append(node)
        return node

    def _tokenize(self) -> list[_Token]:
        tokens, offset = [], 0
        stripped_end = len(self._text.rstrip(_SPACE))
        while offset < stripped_end:
            match = _TOKEN.match(self._text, offset)
            if match is None or match.lastgroup is None:
                bad = offset + len(self._text[offset:]) - len(self._text[offset:].lstrip(_SPACE))
                self.refuse(_unexpected_character(self._text[bad]), bad)
                offset = bad + 1
                continue
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
            self.stop(f"expected '{text}', found '{token.text}'", token.offset)
        return token

    def _node(self, node: Node) -> Node:
        self._nodes += 1
        if self._nodes > MAX_NODES:
            self.stop(f"rule has more than {MAX_NODES} parts", self._peek().offset)
        return node

    def _logic(self, op: str, operand: Node, token: _Token) -> Node:
        if operand.kind is not Kind.CONDITION and not self.unknown(operand):
            self.refuse(f"'{op}' needs conditions, not a {operand.kind.value}", token.offset)
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
            if Kind.CONDITION in (left.kind, right.kind):
                self.refuse(
                    f"'{token.text}' compares numbers or series, not conditions", token.offset
                )
            elif (
                left.kind is Kind.NUMBER
                and right.kind is Kind.NUMBER
                and not self._constraint
                and not (self.unknown(left) or self.unknown(right))
            ):
                self.refuse("comparing two constants is always the same", token.offset)
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
        if Kind.CONDITION in (left.kind, right.kind):
            self.refuse(f"'{token.text}' needs numbers or series", token.offset)
        both_numbers = left.kind is Kind.NUMBER and right.kind is Kind.NUMBER
        return self._node(
            Binary(token.text, left, right, Kind.NUMBER if both_numbers else Kind.SERIES)
        )

    def _unary(self) -> Node:
        if token := self._accept("-"):
            operand = self._nested(self._unary)
            if operand.kind is Kind.CONDITION:
                self.refuse("'-' needs a number or a series", token.offset)
            if isinstance(operand, Number):  # a negative number, as an argument takes it
                return Number(-operand.value)
            return self._node(Unary("-", operand, operand.kind))
        return self._postfix()

    def _postfix(self) -> Node:
        node = self._primary()
        if token := self._accept("["):
            if node.kind is Kind.NUMBER:
                self.refuse("only a series or condition has earlier bars", token.offset)
            bars = self._integer("a bar offset", 0, MAX_PERIOD)
            self._expect("]")
            return self._node(Shift(node, bars, node.kind))
        return node

    def _integer(self, what: str, low: int, high: int) -> int:
        token = self._take()
        if token.kind != "number" or "." in token.text:
            self.stop(f"{what} must be a whole number, found '{token.text}'", token.offset)
        value = int(token.text)
        if not low <= value <= high:
            self.refuse(f"{what} must be between {low} and {high}", token.offset)
        return value

    def _nested(self, parse: Callable[[], Node]) -> Node:
        self._depth += 1
        if self._depth > MAX_DEPTH:
            self.stop(f"rule nested deeper than {MAX_DEPTH}", self._peek().offset)
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
            self.stop(f"expected a value, found '{token.text}'", token.offset)
        name = token.text
        called = self._peek().text == "(" and self._peek().kind == "op"
        if name in self._parameters and not (called and not self._constraint):
            return self._node(Parameter(name))
        if self._constraint:
            known = sorted(self._parameters)
            self.refuse(
                f"a constraint uses only parameters and numbers, not '{name}'",
                token.offset,
                _did_you_mean(name, known),
            )
            return self._stand_in(Kind.NUMBER)
        if called:
            return self._call(token)
        if name in PRICE_SERIES:
            return self._node(Price(name))
        if name in FUNCTIONS:
            self.refuse(f"'{name}' is a function", token.offset, f"call it: {name}(...)")
        else:
            known = [*PRICE_SERIES, *sorted(self._parameters)]
            self.refuse(f"unknown name '{name}'", token.offset, _did_you_mean(name, known))
        return self._stand_in(Kind.SERIES)

    def _call(self, name_token: _Token) -> Node:
        name = name_token.text
        function = FUNCTIONS.get(name)
        if function is None:
            self.refuse(
                f"unknown function '{name}'", name_token.offset, _did_you_mean(name, FUNCTIONS)
            )
        self._expect("(")
        args: list[_Argument] = []
        if not self._accept(")"):
            while True:
                args.append(self._argument())
                if self._accept(")"):
                    break
                self._expect(",")
        if function is None:
            return self._stand_in(Kind.SERIES)
        written = len(args)
        if function.inputs_from_bars and (not args or args[0].node.kind is not Kind.SERIES):
            bar_inputs = [_Argument(Price(str(arg.default)), name_token) for arg in function.inputs]
            args = bar_inputs + args
        if not function.min_args <= len(args) <= len(function.args):
            self.refuse(
                f"{name} takes {function.signature()}, given {written} argument(s)",
                name_token.offset,
            )
            return self._stand_in(function.result)
        for position, arg in enumerate(args):
            self._check_arg(function, position, arg)
        # Defaults written out, so that a call equals the same call written in full.
        given = [arg.node for arg in args]
        defaults = [Number(float(value)) for value in function.with_defaults(given)[len(given) :]]
        call = Call(name, (*given, *defaults), function.result)
        if _refused_together(call):
            self.refuse(
                f"{name} cannot take these arguments together", name_token.offset,
                f"see its arguments: {name}{function.signature()}",
            )  # fmt: skip
        return self._node(call)

    def _argument(self) -> _Argument:
        """One argument of a call; a moving-average type's name stands for its number."""
        token = self._peek()
        after = self._tokens[self._next + 1] if token.kind == "name" else token
        if token.text in MOVING_AVERAGES and after.text in (",", ")") and after.kind == "op":
            self._take()
            return _Argument(self._node(Number(float(MOVING_AVERAGES[token.text]))), token, True)
        return _Argument(self._nested(self._or), token)

    def _check_arg(self, function: Function, position: int, arg: _Argument) -> None:
        expected = function.args[position]
        where = f"argument {position + 1} of {function.name} ({expected.name})"
        node, offset = arg.node, arg.token.offset
        if self.unknown(node):
            return
        if arg.moving_average and expected.kind is not ArgKind.MA_TYPE:
            self.refuse(
                f"{where} must be a {expected.kind.value}, not a moving-average type",
                offset,
                f"call it: {arg.token.text}(...)",
            )
        elif expected.kind is ArgKind.MA_TYPE:
            if not arg.moving_average:
                self.refuse(
                    f"{where} is a moving-average type, by name",
                    offset,
                    "one of " + ", ".join(MOVING_AVERAGES),
                )
        elif expected.kind is ArgKind.SERIES:
            if node.kind is not Kind.SERIES:
                self.refuse(f"{where} must be a series, not a {node.kind.value}", offset)
        elif not isinstance(node, Number | Parameter):
            self.refuse(f"{where} must be a number or a parameter", offset)
        elif isinstance(node, Number) and (refusal := expected.refusal(node.value)):
            self.refuse(f"{where} must be {refusal}", offset)


def _refused_together(call: Call) -> bool:
    """Whether a call's constant arguments, each valid, are refused together (MAVP's
    shortest period above its longest); arguments from parameters are not known yet."""
    constants = [arg.value if isinstance(arg, Number) else None for arg in call.args]
    function = FUNCTIONS[call.function]
    if any(
        value is None
        for value, arg in zip(constants, function.args, strict=True)
        if arg.kind is not ArgKind.SERIES
    ):
        return False
    return function.lookback(constants) < 0


@dataclass(frozen=True)
class _Argument:
    node: Node
    token: _Token
    moving_average: bool = False


def _unexpected_character(character: str) -> str:
    if character.isdigit() and not character.isascii():
        return f"unexpected character '{character}': numbers are written with the digits 0-9"
    if character.isspace() or not character.isprintable():  # invisible: say which it is
        return f"unexpected character U+{ord(character):04X}"
    return f"unexpected character '{character}'"


def _did_you_mean(name: str, known: Collection[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else ""
