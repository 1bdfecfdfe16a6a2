"""The functions a rule may call: what each takes, what it gives, how it is computed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

import numpy as np

from backend_services.market_data.bars import Bars, FloatArray
from backend_services.services.backtest import indicators

MAX_PERIOD = 1_000


class Kind(Enum):
    NUMBER = "number"
    SERIES = "series"
    CONDITION = "condition"


class ArgKind(Enum):
    SERIES = "series"
    PERIOD = "period"  # a whole number of bars, 1..MAX_PERIOD
    NUMBER = "number"


Compute = Callable[..., np.ndarray[Any, Any]]


@dataclass(frozen=True)
class Function:
    args: tuple[ArgKind, ...]
    defaults: tuple[float, ...]  # for the last len(defaults) arguments
    result: Kind
    compute: Compute  # (bars, *arguments) -> array of shape (n,)
    doc: str

    @property
    def min_args(self) -> int:
        return len(self.args) - len(self.defaults)

    def signature(self) -> str:
        names = [kind.value for kind in self.args]
        for index, default in enumerate(self.defaults, start=self.min_args):
            names[index] = f"{names[index]}={default:g}"
        return f"({', '.join(names)})"


def _series_period(compute: Callable[[FloatArray, int], FloatArray]) -> Compute:
    return lambda bars, values, period: compute(values, int(period))


S, P, N = ArgKind.SERIES, ArgKind.PERIOD, ArgKind.NUMBER
FUNCTIONS: dict[str, Function] = {
    "sma": Function((S, P), (), Kind.SERIES, _series_period(indicators.sma), "simple average"),
    "ema": Function((S, P), (), Kind.SERIES, _series_period(indicators.ema), "exponential"),
    "wma": Function((S, P), (), Kind.SERIES, _series_period(indicators.wma), "weighted"),
    "rsi": Function((S, P), (14,), Kind.SERIES, _series_period(indicators.rsi), "0..100"),
    "stdev": Function((S, P), (), Kind.SERIES, _series_period(indicators.stdev), "population"),
    "highest": Function((S, P), (), Kind.SERIES, _series_period(indicators.highest), "max"),
    "lowest": Function((S, P), (), Kind.SERIES, _series_period(indicators.lowest), "min"),
    "roc": Function((S, P), (), Kind.SERIES, _series_period(indicators.roc), "fraction"),
    "macd": Function(
        (S, P, P),
        (12, 26),
        Kind.SERIES,
        lambda bars, v, fast, slow: indicators.macd(v, int(fast), int(slow)),
        "fast ema - slow ema",
    ),
    "macd_signal": Function(
        (S, P, P, P),
        (12, 26, 9),
        Kind.SERIES,
        lambda bars, v, f, s, g: indicators.macd_signal(v, int(f), int(s), int(g)),
        "ema of macd",
    ),
    "macd_hist": Function(
        (S, P, P, P),
        (12, 26, 9),
        Kind.SERIES,
        lambda bars, v, f, s, g: indicators.macd_hist(v, int(f), int(s), int(g)),
        "macd - signal",
    ),
    "bb_upper": Function(
        (S, P, N),
        (20, 2),
        Kind.SERIES,
        lambda bars, v, period, k: indicators.bollinger(v, int(period), k),
        "middle + k deviations",
    ),
    "bb_middle": Function(
        (S, P), (20,), Kind.SERIES, _series_period(indicators.sma), "simple average"
    ),
    "bb_lower": Function(
        (S, P, N),
        (20, 2),
        Kind.SERIES,
        lambda bars, v, period, k: indicators.bollinger(v, int(period), -k),
        "middle - k deviations",
    ),
    "atr": Function(
        (P,),
        (14,),
        Kind.SERIES,
        lambda bars, period: indicators.atr(bars.high, bars.low, bars.close, int(period)),
        "average true range of the bars",
    ),
    "crossover": Function(
        (S, S),
        (),
        Kind.CONDITION,
        lambda bars, a, b: indicators.crossover(a, b),
        "a crosses above b",
    ),
    "crossunder": Function(
        (S, S),
        (),
        Kind.CONDITION,
        lambda bars, a, b: indicators.crossunder(a, b),
        "a crosses below b",
    ),
}


def call(name: str, bars: Bars, args: list[Any]) -> np.ndarray[Any, Any]:
    """Compute `name` with its defaults filled in."""
    function = FUNCTIONS[name]
    missing = len(function.args) - len(args)
    full = [*args, *function.defaults[len(function.defaults) - missing :]] if missing else args
    return function.compute(bars, *full)
