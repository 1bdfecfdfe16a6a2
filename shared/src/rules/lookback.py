"""Lookbacks (bars of history before a first value) of the TA-Lib functions whose
lookback is not a linear formula of their periods: those that take a moving-average
type, or the larger of two periods. As in TA-Lib, -1 means arguments it refuses
together. The others are in `talib_functions.json`. Each
equals TA-Lib's own `lookback` (tests/unit/test_function_catalogue.py checks them all
on random arguments)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from math import isqrt

__all__ = ["MOVING_AVERAGES", "WRITTEN_OUT", "moving_average_lookback"]

# TA-Lib's moving-average types (its MA_Type numbers), by the name of the function
# that computes each one. Type 10 (none) and 11 (a function's own default) are left out.
MOVING_AVERAGES = {
    "sma": 0,
    "ema": 1,
    "wma": 2,
    "dema": 3,
    "tema": 4,
    "trima": 5,
    "kama": 6,
    "mama": 7,
    "t3": 8,
    "hma": 9,
    "zlema": 12,
    "rma": 13,
}
_SCALED = {3: 2, 4: 3, 8: 6}  # DEMA, TEMA, T3: that many averages in a row
_MAMA = 32

Values = Mapping[str, float]


def moving_average_lookback(ma_type: float, period: float) -> int:
    p, kind = int(period), int(ma_type)
    if p <= 1:
        return 0
    if kind == MOVING_AVERAGES["kama"]:
        return p
    if kind == MOVING_AVERAGES["mama"]:
        return _MAMA
    if kind == MOVING_AVERAGES["hma"]:
        return p - 1 + isqrt(p) - 1
    if kind == MOVING_AVERAGES["zlema"]:
        return p - 1 + (p - 1) // 2
    return _SCALED.get(kind, 1) * (p - 1)


def _ma(ma_type: str, period: str) -> Callable[[Values], int]:
    return lambda v: moving_average_lookback(v[ma_type], v[period])


def _larger_less_one(v: Values) -> int:
    return int(max(v["fastperiod"], v["slowperiod"])) - 1


def _stoch(v: Values) -> int:
    return (
        int(v["fastk_period"])
        - 1
        + moving_average_lookback(v["slowk_matype"], v["slowk_period"])
        + moving_average_lookback(v["slowd_matype"], v["slowd_period"])
    )


def _stochf(v: Values) -> int:
    return (
        int(v["fastk_period"]) - 1 + moving_average_lookback(v["fastd_matype"], v["fastd_period"])
    )


def _oscillator(v: Values) -> int:
    return moving_average_lookback(v["matype"], max(v["fastperiod"], v["slowperiod"]))


WRITTEN_OUT: dict[str, Callable[[Values], int]] = {
    "AC": lambda v: _larger_less_one(v) + int(v["signalperiod"]) - 1,
    "ADOSC": _larger_less_one,
    "AO": _larger_less_one,
    "APO": _oscillator,
    # The deviation's window, or the middle band's average when that needs more.
    "BBANDS": lambda v: max(_ma("matype", "timeperiod")(v), int(v["timeperiod"]) - 1),
    "COPPOCK": lambda v: int(max(v["roc1period"], v["roc2period"]) + v["wmaperiod"]) - 1,
    "DPO": lambda v: max(int(v["timeperiod"]) - 1, 2),
    "HMA": lambda v: moving_average_lookback(MOVING_AVERAGES["hma"], v["timeperiod"]),
    "KAMA": lambda v: moving_average_lookback(MOVING_AVERAGES["kama"], v["timeperiod"]),
    "KC": lambda v: int(max(v["timeperiod"] - 1, v["atrperiod"])),
    "KDJ": _stoch,
    "MA": _ma("matype", "timeperiod"),
    "MACD": lambda v: _larger_less_one(v) + int(v["signalperiod"]) - 1,
    "MACDEXT": lambda v: (
        max(
            moving_average_lookback(v["fastmatype"], v["fastperiod"]),
            moving_average_lookback(v["slowmatype"], v["slowperiod"]),
        )
        + moving_average_lookback(v["signalmatype"], v["signalperiod"])
    ),
    # TA-Lib refuses a shortest period above the longest (its lookback is -1 then).
    "MAVP": lambda v: (
        -1
        if v["minperiod"] > v["maxperiod"]
        else moving_average_lookback(v["matype"], v["maxperiod"])
    ),
    "MINUS_DM": lambda v: max(int(v["timeperiod"]) - 1, 1),
    "PLUS_DM": lambda v: max(int(v["timeperiod"]) - 1, 1),
    "PPO": _oscillator,
    "PVO": _oscillator,
    "STOCH": _stoch,
    "STOCHF": _stochf,
    "STOCHRSI": lambda v: int(v["timeperiod"]) + _stochf(v),
    "ULTOSC": lambda v: int(max(v["timeperiod1"], v["timeperiod2"], v["timeperiod3"])),
    "ZLEMA": lambda v: moving_average_lookback(MOVING_AVERAGES["zlema"], v["timeperiod"]),
}
