"""Static checks on parsed rules and sweep constraints, and the operators both the
engine and the constraint check apply: numpy only, nothing computed over bars."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from shared.rules.functions import FUNCTIONS, ArgKind, Argument
from shared.rules.parser import Binary, Call, Node, Number, Parameter, Shift, Unary, children

__all__ = [
    "BoolArray",
    "HistoryNeed",
    "Value",
    "binary",
    "check_parameter_values",
    "constraint_mask",
    "history_needed",
    "parameters_as_arguments",
    "parameters_used_as_periods",
    "unary",
]

Value = float | np.ndarray[Any, Any]
BoolArray = np.ndarray[Any, np.dtype[np.bool_]]
_COMPARE = {
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
    "==": np.equal,
    "!=": np.not_equal,
}
_ARITHMETIC = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide}


def constraint_mask(node: Node, columns: Mapping[str, Value], count: int) -> BoolArray:
    """Where a constraint (`parser.parse_constraint`) holds, for `count` combinations of
    parameter values at once: `columns` holds each parameter's value in every one (an
    array of `count` values, or one value shared by all)."""
    return np.broadcast_to(np.asarray(_scalar(node, columns), dtype=bool), (count,))


def _scalar(node: Node, parameters: Mapping[str, Value]) -> Value:
    match node:
        case Number(value=value):
            return value
        case Parameter(name=name):
            return parameters[name]
        case Unary(op=op, operand=operand):
            return unary(op, _scalar(operand, parameters))
        case Binary(op=op, left=left, right=right):
            return binary(op, _scalar(left, parameters), _scalar(right, parameters))
    raise TypeError(f"not a constraint node: {node!r}")


def unary(op: str, operand: Value) -> Value:
    result: Value = np.negative(operand) if op == "-" else np.logical_not(operand)
    return result


def binary(op: str, left: Value, right: Value) -> Value:
    """One operator over numbers, series or conditions; a comparison with a missing
    value (NaN) is false, a division by zero infinite."""
    if op == "and":
        return np.logical_and(left, right)
    if op == "or":
        return np.logical_or(left, right)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (_COMPARE.get(op) or _ARITHMETIC[op])(left, right)


def parameters_used_as_periods(node: Node) -> set[str]:
    """Names of the parameters a rule passes where a whole number of bars is needed."""
    return {
        name
        for name, argument in _parameter_uses(node)
        if argument is not None and argument.kind is ArgKind.PERIOD
    }


def parameters_as_arguments(node: Node) -> dict[str, list[Argument]]:
    """The arguments each parameter is passed as, by its name."""
    uses: dict[str, list[Argument]] = {}
    for name, argument in _parameter_uses(node):
        if argument is not None:
            uses.setdefault(name, []).append(argument)
    return uses


def check_parameter_values(node: Node, parameters: Mapping[str, float]) -> None:
    """ValueError naming the first parameter whose value an argument it is passed as
    cannot take (a period of 2.5, a factor above its bound)."""
    for name, arguments in sorted(parameters_as_arguments(node).items()):
        value = parameters[name]
        for argument in arguments:
            refusal = argument.refusal(value)
            if refusal is not None:
                what = "a period" if argument.kind is ArgKind.PERIOD else argument.name
                raise ValueError(
                    f"parameter '{name}' is {what}: it must be {refusal}, not {value:g}"
                )
    for call in _calls(node):
        if FUNCTIONS[call.function].lookback([_constant(a, parameters) for a in call.args]) < 0:
            named = ", ".join(sorted({arg.name for arg in call.args if isinstance(arg, Parameter)}))
            raise ValueError(
                f"{call.function} cannot take these arguments together (parameters {named})"
            )


def _calls(node: Node) -> Iterator[Call]:
    if isinstance(node, Call):
        yield node
    for child in children(node):
        yield from _calls(child)


def _parameter_uses(node: Node) -> Iterator[tuple[str, Argument | None]]:
    match node:
        case Call(function=function, args=args):
            for argument, arg in zip(FUNCTIONS[function].args, args, strict=False):
                if isinstance(arg, Parameter):
                    yield arg.name, argument
                else:
                    yield from _parameter_uses(arg)
        case Parameter(name=name):
            yield name, None
        case Shift(operand=operand) | Unary(operand=operand):
            yield from _parameter_uses(operand)
        case Binary(left=left, right=right):
            yield from _parameter_uses(left)
            yield from _parameter_uses(right)


@dataclass(frozen=True)
class HistoryNeed:
    """The bars a rule needs for the first value of its most demanding call."""

    bars: int
    function: str


def history_needed(node: Node, parameters: Mapping[str, float]) -> HistoryNeed | None:
    """Of every function call in the rule, the one needing the most bars before it has
    a value (its lookback on top of its inputs', plus one), with those bars; None for a
    rule calling no function."""
    _, need = _lookback(node, parameters)
    return need


def _lookback(node: Node, parameters: Mapping[str, float]) -> tuple[int, HistoryNeed | None]:
    """Bars before the node's first value, and the most demanding call inside it."""
    match node:
        case Call(function=name, args=args):
            inner = [_lookback(arg, parameters) for arg in args]
            values = [_constant(arg, parameters) for arg in args]
            lookback = FUNCTIONS[name].lookback(values) + max((lb for lb, _ in inner), default=0)
            needs = [need for _, need in inner if need is not None]
            return lookback, max([*needs, HistoryNeed(lookback + 1, name)], key=_bars)
        case Shift(operand=operand, bars=bars):
            lookback, need = _lookback(operand, parameters)
            shifted = None if need is None else HistoryNeed(need.bars + bars, need.function)
            return lookback + bars, shifted
        case Unary(operand=operand):
            return _lookback(operand, parameters)
        case Binary(left=left, right=right):
            (left_bars, left_need), (right_bars, right_need) = (
                _lookback(left, parameters),
                _lookback(right, parameters),
            )
            needs = [need for need in (left_need, right_need) if need is not None]
            return max(left_bars, right_bars), max(needs, key=_bars) if needs else None
    return 0, None


def _bars(need: HistoryNeed) -> int:
    return need.bars


def _constant(node: Node, parameters: Mapping[str, float]) -> float:
    """A constant argument's value; 0 for a series (its value is not read)."""
    match node:
        case Number(value=value):
            return value
        case Parameter(name=name):
            return float(parameters[name])
    return 0.0
