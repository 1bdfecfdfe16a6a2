"""Evaluating parsed rules over bars, vectorised: one numpy operation (or indicator
call) per distinct tree node."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from backend_services.services.backtest.engine.indicators import BoolArray, shift
from backend_services.services.backtest.engine.rule_functions import outputs
from backend_services.services.backtest.engine.sized_lru import SizedLRU
from shared.market_data.bars import Bars
from shared.rules.checks import Value, binary, unary
from shared.rules.functions import FUNCTIONS, Kind
from shared.rules.parser import Binary, Call, Node, Number, Parameter, Price, Shift, Unary

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
        value = self.value(node)
        return np.broadcast_to(np.asarray(value, dtype=bool), (len(self._bars),))

    def value(self, node: Node) -> Value:
        """The node's value: a number, or an array of one value per bar."""
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
                computed = outputs(function, [self.value(arg) for arg in args])
                self._keep_siblings(function, args, computed)
                return computed[function]
            case Shift(operand=operand, bars=bars):
                earlier = np.asarray(self.value(operand))
                if earlier.dtype == np.bool_:
                    held: np.ndarray[Any, Any] = shift(earlier.astype(np.float64), bars) == 1.0
                    return held
                return shift(earlier, bars)
            case Unary(op=op, operand=operand):
                return unary(op, self.value(operand))
            case Binary(op=op, left=left, right=right):
                return binary(op, self.value(left), self.value(right))
        raise TypeError(f"not a rule node: {node!r}")

    def _keep_siblings(
        self, function: str, args: tuple[Node, ...], computed: dict[str, np.ndarray[Any, Any]]
    ) -> None:
        """What the call gave besides `function` (the other outputs of a TA-Lib function,
        a pattern's conditions), kept for the calls of them with the same arguments."""
        keys = [self._key(arg) for arg in args]
        for sibling, values in computed.items():
            if sibling == function:
                continue
            key = ("call", sibling, *keys)
            self._computed[key] = values
            if self._shared is not None and FUNCTIONS[sibling].result is Kind.SERIES:
                self._shared.put(key, values)

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
