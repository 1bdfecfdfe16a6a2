"""How each function of the rule language (`shared.rules.functions.FUNCTIONS`) is
computed over bars: one entry per name, checked at import to cover them all."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from backend_services.services.backtest.engine import indicators
from shared.market_data.bars import Bars, FloatArray
from shared.rules.functions import FUNCTIONS

Compute = Callable[..., np.ndarray[Any, Any]]  # (bars, *arguments) -> array of shape (n,)


def _series_period(compute: Callable[[FloatArray, int], FloatArray]) -> Compute:
    return lambda bars, values, period: compute(values, int(period))


IMPLEMENTATIONS: dict[str, Compute] = {
    "sma": _series_period(indicators.sma),
    "ema": _series_period(indicators.ema),
    "wma": _series_period(indicators.wma),
    "rsi": _series_period(indicators.rsi),
    "stdev": _series_period(indicators.stdev),
    "highest": _series_period(indicators.highest),
    "lowest": _series_period(indicators.lowest),
    "roc": _series_period(indicators.roc),
    "macd": lambda bars, v, fast, slow: indicators.macd(v, int(fast), int(slow)),
    "macd_signal": lambda bars, v, f, s, g: indicators.macd_signal(v, int(f), int(s), int(g)),
    "macd_hist": lambda bars, v, f, s, g: indicators.macd_hist(v, int(f), int(s), int(g)),
    "bb_upper": lambda bars, v, period, k: indicators.bollinger(v, int(period), k),
    "bb_middle": _series_period(indicators.sma),
    "bb_lower": lambda bars, v, period, k: indicators.bollinger(v, int(period), -k),
    "atr": lambda bars, period: indicators.atr(bars.high, bars.low, bars.close, int(period)),
    "crossover": lambda bars, a, b: indicators.crossover(a, b),
    "crossunder": lambda bars, a, b: indicators.crossunder(a, b),
}
if IMPLEMENTATIONS.keys() != FUNCTIONS.keys():
    raise ImportError(
        f"rule functions without an implementation: {sorted(FUNCTIONS.keys() - IMPLEMENTATIONS)}"
        f"; implementations of no rule function: {sorted(IMPLEMENTATIONS.keys() - FUNCTIONS)}"
    )


def call(name: str, bars: Bars, args: list[Any]) -> np.ndarray[Any, Any]:
    """Compute `name` with its defaults filled in."""
    return IMPLEMENTATIONS[name](bars, *FUNCTIONS[name].with_defaults(args))
