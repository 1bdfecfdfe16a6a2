"""The functions a rule may call: what each takes and what it gives. How each one is
computed lives in the engine (`engine/rule_functions.py`), which implements exactly
these names."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

__all__ = ["FUNCTIONS", "MAX_PERIOD", "ArgKind", "Function", "Kind"]

MAX_PERIOD = 1_000


class Kind(Enum):
    NUMBER = "number"
    SERIES = "series"
    CONDITION = "condition"


class ArgKind(Enum):
    SERIES = "series"
    PERIOD = "period"  # a whole number of bars, 1..MAX_PERIOD
    NUMBER = "number"


@dataclass(frozen=True)
class Function:
    args: tuple[ArgKind, ...]
    defaults: tuple[float, ...]  # for the last len(defaults) arguments
    result: Kind
    doc: str

    @property
    def min_args(self) -> int:
        return len(self.args) - len(self.defaults)

    def signature(self) -> str:
        names = [kind.value for kind in self.args]
        for index, default in enumerate(self.defaults, start=self.min_args):
            names[index] = f"{names[index]}={default:g}"
        return f"({', '.join(names)})"

    def with_defaults(self, args: list[float]) -> list[float]:
        """`args` completed with the defaults of the arguments left out."""
        missing = len(self.args) - len(args)
        return [*args, *self.defaults[len(self.defaults) - missing :]] if missing else args


S, P, N = ArgKind.SERIES, ArgKind.PERIOD, ArgKind.NUMBER
FUNCTIONS: dict[str, Function] = {
    "sma": Function((S, P), (), Kind.SERIES, "simple average"),
    "ema": Function((S, P), (), Kind.SERIES, "exponential"),
    "wma": Function((S, P), (), Kind.SERIES, "weighted"),
    "rsi": Function((S, P), (14,), Kind.SERIES, "0..100"),
    "stdev": Function((S, P), (), Kind.SERIES, "population"),
    "highest": Function((S, P), (), Kind.SERIES, "max"),
    "lowest": Function((S, P), (), Kind.SERIES, "min"),
    "roc": Function((S, P), (), Kind.SERIES, "fraction"),
    "macd": Function((S, P, P), (12, 26), Kind.SERIES, "fast ema - slow ema"),
    "macd_signal": Function((S, P, P, P), (12, 26, 9), Kind.SERIES, "ema of macd"),
    "macd_hist": Function((S, P, P, P), (12, 26, 9), Kind.SERIES, "macd - signal"),
    "bb_upper": Function((S, P, N), (20, 2), Kind.SERIES, "middle + k deviations"),
    "bb_middle": Function((S, P), (20,), Kind.SERIES, "simple average"),
    "bb_lower": Function((S, P, N), (20, 2), Kind.SERIES, "middle - k deviations"),
    "atr": Function((P,), (14,), Kind.SERIES, "average true range of the bars"),
    "crossover": Function((S, S), (), Kind.CONDITION, "a crosses above b"),
    "crossunder": Function((S, S), (), Kind.CONDITION, "a crosses below b"),
}
