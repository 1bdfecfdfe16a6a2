"""The indicator lines a strategy's rules are made of, for a chart to draw over its
candles: every series the rules compare or cross (`sma(close, 50)` in
`crossover(sma(close, 50), sma(close, 200))`, `rsi(close, 14)` in `rsi(close, 14) < 30`),
written back as rule text with the parameters' values in place, so the compute service
can evaluate each one alone and a member reads what the line is."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from shared.rules.functions import FUNCTIONS, OWN_GROUP, ArgKind, Kind
from shared.rules.lookback import MOVING_AVERAGES
from shared.rules.parser import (
    Binary,
    Call,
    Node,
    Number,
    Parameter,
    Price,
    Shift,
    Unary,
    children,
    parse_rule,
)

__all__ = ["MAX_LINES", "indicator_lines", "line_text", "on_price_scale"]

# A chart draws at most this many lines; a strategy's rules rarely use more.
MAX_LINES = 8
# The language's own functions whose values are prices (the rest are not: stdev).
_OWN_PRICE_FUNCTIONS = {"highest", "lowest", "bb_upper", "bb_middle", "bb_lower"}
_PRICE_GROUPS = {"Overlap Studies", "Price Transform"}
_MA_NAMES = {number: name for name, number in MOVING_AVERAGES.items()}


def indicator_lines(rules: Mapping[str, str], parameters: Mapping[str, float]) -> list[str]:
    """The series the rules use, outermost first met, each once, at most MAX_LINES."""
    lines: list[str] = []
    for text in rules.values():
        for call in _series_calls(parse_rule(text, parameters)):
            line = line_text(call, parameters)
            if line not in lines and len(lines) < MAX_LINES:
                lines.append(line)
    return lines


def on_price_scale(function: str) -> bool:
    """Whether the function's values are prices, drawn over the candles; the others (an
    RSI, a MACD, a volatility) get a pane of their own."""
    entry = FUNCTIONS[function]
    if entry.group == OWN_GROUP:
        return function in _OWN_PRICE_FUNCTIONS
    return entry.group in _PRICE_GROUPS


def line_text(node: Node, parameters: Mapping[str, float]) -> str:
    """The node as rule text, parameters replaced by their values."""
    match node:
        case Number(value=value):
            return f"{value:g}"
        case Parameter(name=name):
            return f"{parameters[name]:g}"
        case Price(name=name):
            return name
        case Call(function=function, args=args):
            kinds = [argument.kind for argument in FUNCTIONS[function].args]
            texts = [
                _MA_NAMES[int(arg.value)]
                if kind is ArgKind.MA_TYPE and isinstance(arg, Number)
                else line_text(arg, parameters)
                for arg, kind in zip(args, kinds, strict=False)
            ]
            return f"{function}({', '.join(texts)})"
        case Shift(operand=operand, bars=bars):
            return f"{line_text(operand, parameters)}[{bars}]"
        case Unary(op=op, operand=operand):
            spacer = " " if op == "not" else ""
            return f"{op}{spacer}{line_text(operand, parameters)}"
        case Binary(op=op, left=left, right=right):
            return f"({line_text(left, parameters)} {op} {line_text(right, parameters)})"
    raise TypeError(f"not a rule node: {node!r}")


def _series_calls(node: Node) -> Iterator[Call]:
    """The calls giving a series that no other such call contains."""
    if isinstance(node, Call) and node.kind is Kind.SERIES:
        yield node
        return
    for child in children(node):
        yield from _series_calls(child)
