"""Evaluating parsed rules over bars, vectorised: one numpy operation per tree node."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from backend_services.market_data.bars import Bars
from backend_services.rules.functions import FUNCTIONS, MAX_PERIOD, ArgKind, Kind, call
from backend_services.rules.parser import Binary, Call, Node, Number, Parameter, Price, Shift, Unary
from backend_services.services.backtest.indicators import BoolArray, shift
from backend_services.sized_lru import SizedLRU

Value = float | np.ndarray[Any, Any]
_COMPARE = {
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
    "==": np.equal,
    "!=": np.not_equal,
}
_ARITHMETIC = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide}


SharedSeries = SizedLRU[tuple[Any, ...], np.ndarray[Any, Any]]


def shared_series(max_bytes: int) -> SharedSeries:
    """A cache of computed series that several evaluators over the same bars can share."""
    return SizedLRU(max_bytes, size_of=lambda values: values.nbytes)


class RuleEvaluator:
    """Evaluates rules over `bars` with `parameters`. Each distinct computation (the same
    function of the same inputs) runs once, however many rules use it. Evaluators over
    the same bars may also share the numeric series they compute through `shared` (a
    parameter sweep computes `sma(close, 20)` once for every combination with 20 in it);
    conditions are not shared: they differ between combinations and are cheap to derive.
    """

    def __init__(
        self,
        bars: Bars,
        parameters: Mapping[str, float],
        shared: SharedSeries | None = None,
    ) -> None:
        self._bars = bars
        self._parameters = parameters
        self._computed: dict[tuple[Any, ...], Value] = {}
        self._shared = shared

    def condition(self, node: Node) -> BoolArray:
        """The rule's value on every bar; False wherever it needs history that is missing."""
        value = self._value(node)
        return np.broadcast_to(np.asarray(value, dtype=bool), (len(self._bars),))

    def _value(self, node: Node) -> Value:
        key = self._key(node)
        value = self._computed.get(key)
        if value is None and self._shared is not None:
            value = self._shared.get(key)
        if value is None:
            value = self._compute(node)
            computed_series = node.kind is Kind.SERIES and not isinstance(node, Price)
            if self._shared is not None and computed_series:
                self._shared.put(key, np.asarray(value))
        self._computed[key] = value
        return value

    def _compute(self, node: Node) -> Value:
        match node:
            case Number(value=value):
                return value
            case Parameter(name=name):
                return float(self._parameters[name])
            case Price(name=name):
                series: np.ndarray[Any, Any] = getattr(self._bars, name)
                return series
            case Call(function=function, args=args):
                return call(function, self._bars, [self._value(arg) for arg in args])
            case Shift(operand=operand, bars=bars):
                earlier = np.asarray(self._value(operand))
                if earlier.dtype == np.bool_:
                    held: np.ndarray[Any, Any] = shift(earlier.astype(np.float64), bars) == 1.0
                    return held
                return shift(earlier, bars)
            case Unary(op=op, operand=operand):
                return _unary(op, self._value(operand))
            case Binary(op=op, left=left, right=right):
                return _binary(op, self._value(left), self._value(right))
        raise TypeError(f"not a rule node: {node!r}")

    def _key(self, node: Node) -> tuple[Any, ...]:
        """What the node computes, with parameters replaced by their values."""
        match node:
            case Parameter(name=name):
                return ("number", float(self._parameters[name]))
            case Number(value=value):
                return ("number", value)
            case Price(name=name):
                return ("price", name)
            case Call(function=function, args=args):
                return ("call", function, *(self._key(arg) for arg in args))
            case Shift(operand=operand, bars=bars):
                return ("shift", bars, self._key(operand))
            case Unary(op=op, operand=operand):
                return ("unary", op, self._key(operand))
            case Binary(op=op, left=left, right=right):
                return ("binary", op, self._key(left), self._key(right))
        raise TypeError(f"not a rule node: {node!r}")


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
            return _unary(op, _scalar(operand, parameters))
        case Binary(op=op, left=left, right=right):
            return _binary(op, _scalar(left, parameters), _scalar(right, parameters))
    raise TypeError(f"not a constraint node: {node!r}")


def _unary(op: str, operand: Value) -> Value:
    result: Value = np.negative(operand) if op == "-" else np.logical_not(operand)
    return result


def _binary(op: str, left: Value, right: Value) -> Value:
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
    return {name for name, kind in _parameter_uses(node) if kind is ArgKind.PERIOD}


def check_period_values(node: Node, parameters: Mapping[str, float]) -> None:
    """ValueError naming the first parameter whose value cannot be a period."""
    for name in sorted(parameters_used_as_periods(node)):
        value = parameters[name]
        if not is_period(value):
            raise ValueError(
                f"parameter '{name}' is a period: it must be a whole number from 1 to "
                f"{MAX_PERIOD}, not {value:g}"
            )


def is_period(value: float) -> bool:
    """Whether a value can serve as a number of bars."""
    return float(value).is_integer() and 1 <= value <= MAX_PERIOD


def _parameter_uses(node: Node) -> Iterator[tuple[str, ArgKind | None]]:
    match node:
        case Call(function=function, args=args):
            for kind, arg in zip(FUNCTIONS[function].args, args, strict=False):
                if isinstance(arg, Parameter):
                    yield arg.name, kind
                else:
                    yield from _parameter_uses(arg)
        case Parameter(name=name):
            yield name, None
        case Shift(operand=operand) | Unary(operand=operand):
            yield from _parameter_uses(operand)
        case Binary(left=left, right=right):
            yield from _parameter_uses(left)
            yield from _parameter_uses(right)
