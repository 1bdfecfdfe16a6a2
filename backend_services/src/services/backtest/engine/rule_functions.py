"""How each function of the rule language (`shared.rules.functions.FUNCTIONS`) is
computed: the engine's own exact kernels where they cover a TA-Lib function (their
definitions are TA-Lib's, their windows exact: see `indicators`), TA-Lib itself for the
rest, and the language's own functions."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import talib

from backend_services.services.backtest.engine import indicators
from shared.market_data.bars import FloatArray
from shared.rules.functions import FUNCTIONS, MOVING_AVERAGES, ArgKind, Function

__all__ = ["KERNELS", "OWN", "outputs"]

Array = np.ndarray[Any, Any]
Outputs = tuple[FloatArray, ...]


def _one(compute: Callable[[FloatArray, int], FloatArray]) -> Callable[..., Outputs]:
    return lambda values, period: (compute(values, int(period)),)


def _bbands(values: FloatArray, period: float, up: float, down: float, ma: float) -> Outputs:
    middle = indicators.sma(values, int(period))
    deviation = indicators.stdev(values, int(period))
    return middle + up * deviation, middle, middle - down * deviation


# TA-Lib functions the engine's kernels compute, by TA-Lib name: (inputs, arguments)
# in TA-Lib's order -> every output in TA-Lib's order.
KERNELS: dict[str, Callable[..., Outputs]] = {
    "SMA": _one(indicators.sma),
    "EMA": _one(indicators.ema),
    "WMA": _one(indicators.wma),
    "RSI": _one(indicators.rsi),
    "MAX": _one(indicators.highest),
    "MIN": _one(indicators.lowest),
    "ROC": _one(indicators.roc),
    "STDDEV": lambda values, period, k: (indicators.stdev(values, int(period)) * k,),
    "MACD": lambda v, fast, slow, signal: indicators.macd_lines(
        v, int(fast), int(slow), int(signal)
    ),
    "ATR": lambda high, low, close, period: (indicators.atr(high, low, close, int(period)),),
    "BBANDS": _bbands,
}
_KERNEL_APPLIES: dict[str, Callable[[Sequence[Any]], bool]] = {
    "BBANDS": lambda args: int(args[-1]) == MOVING_AVERAGES["sma"],  # others: TA-Lib's
}

# The language's own functions, by name: their arguments -> their value.
OWN: dict[str, Callable[..., Array]] = {
    "stdev": lambda values, period: indicators.stdev(values, int(period)),
    "highest": lambda values, period: indicators.highest(values, int(period)),
    "lowest": lambda values, period: indicators.lowest(values, int(period)),
    "bb_upper": lambda values, period, k: indicators.bollinger(values, int(period), k),
    "bb_middle": lambda values, period: indicators.sma(values, int(period)),
    "bb_lower": lambda values, period, k: indicators.bollinger(values, int(period), -k),
    "crossover": indicators.crossover,
    "crossunder": indicators.crossunder,
}
_SIBLINGS: dict[str, list[Function]] = {}
for _function in FUNCTIONS.values():
    _SIBLINGS.setdefault(_function.talib, []).append(_function)
_OWN_NAMES = {function.name for function in _SIBLINGS.pop("")}
if OWN.keys() != _OWN_NAMES:
    raise ImportError(
        f"own rule functions without an implementation: {sorted(_OWN_NAMES - OWN.keys())}"
        f"; implementations of no rule function: {sorted(OWN.keys() - _OWN_NAMES)}"
    )


def outputs(name: str, args: Sequence[Any]) -> dict[str, Array]:
    """The value of `name` over bars for `args` (its series and arguments, in order;
    defaults filled in here), and of every other name the same computation gives: a
    multi-output function's other outputs, a candlestick pattern's conditions."""
    function = FUNCTIONS[name]
    values = function.with_defaults(args)
    if not function.talib:
        return {name: OWN[name](*values)}
    computed = _talib_outputs(function, values)
    return {sibling.name: _output(sibling, computed) for sibling in _SIBLINGS[function.talib]}


def _talib_outputs(function: Function, values: list[Any]) -> Outputs:
    kernel = KERNELS.get(function.talib)
    applies = _KERNEL_APPLIES.get(function.talib)
    if kernel is not None and (applies is None or applies(values)):
        return kernel(*values)
    inputs = [
        np.ascontiguousarray(value, dtype=np.float64)
        for arg, value in zip(function.args, values, strict=True)
        if arg.kind is ArgKind.SERIES
    ]
    arguments = [
        float(value) if arg.kind is ArgKind.NUMBER else int(value)
        for arg, value in zip(function.args, values, strict=True)
        if arg.kind is not ArgKind.SERIES
    ]
    if any(not np.isfinite(series).any() for series in inputs):
        # TA-Lib refuses a series with no value at all; it has none either.
        return tuple(np.full(len(inputs[0]), np.nan) for _ in function.outputs)
    compute: Callable[..., Any] = getattr(talib, function.talib)
    computed = compute(*inputs, *arguments)
    together = computed if isinstance(computed, tuple) else (computed,)
    return tuple(np.asarray(output, dtype=np.float64) for output in together)


def _output(function: Function, computed: Outputs) -> Array:
    values = computed[function.output]
    if function.condition == "bullish":
        return values > 0
    if function.condition == "bearish":
        return values < 0
    return values
