"""Every TA-Lib function through the rule language and the engine equals a direct
TA-Lib call on the same bars (values and warm-up), and the engine's own kernels equal
TA-Lib within 1e-9 relative from their first value, with the same warm-up."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import talib
from talib._ta_lib import MA_Type

from backend_services.services.backtest.engine.evaluate import RuleEvaluator
from backend_services.services.backtest.engine.rule_functions import KERNELS
from shared.market_data.bars import Bars
from shared.rules.functions import FUNCTIONS, PRICE_SERIES, ArgKind, Function
from shared.rules.parser import Binary, Call, parse_rule

_SAMPLE = Path(__file__).parents[2] / "backend_services/src/market_data/sample-data/GOOG.csv"


def _sample_bars() -> Bars:
    columns = np.loadtxt(_SAMPLE, delimiter=",", skiprows=1, usecols=(1, 2, 3, 4, 5)).T
    count = columns.shape[1]
    return Bars(
        time=86_400 * np.arange(count, dtype=np.int64),
        open=columns[0],
        high=columns[1],
        low=columns[2],
        close=columns[3],
        volume=columns[4],
    )


BARS = _sample_bars()
_TA_LIB_NAMES = sorted(name for name, function in FUNCTIONS.items() if function.talib)


def _series_name(arg_default: Any) -> str:
    return str(arg_default) if arg_default in PRICE_SERIES else "close"


def _through_the_engine(text: str) -> np.ndarray[Any, Any]:
    condition = text.split("(")[0].endswith(("_bullish", "_bearish"))
    node = parse_rule(text if condition else f"{text} != 0.5", [])
    call = node.left if isinstance(node, Binary) else node
    assert isinstance(call, Call)
    return np.asarray(RuleEvaluator(BARS, {}).value(call))


def _direct(function: Function, arguments: dict[str, float]) -> np.ndarray[Any, Any]:
    inputs = [getattr(BARS, _series_name(arg.default)) for arg in function.inputs]
    computed = getattr(talib, function.talib)(*inputs, **arguments)
    together = computed if isinstance(computed, tuple) else (computed,)
    values = np.asarray(together[function.output], dtype=np.float64)
    if function.condition:
        return values > 0 if function.condition == "bullish" else values < 0
    return values


@pytest.mark.parametrize("name", _TA_LIB_NAMES)
def test_every_ta_lib_function_parses_runs_and_equals_ta_lib(name: str) -> None:
    function = FUNCTIONS[name]
    inputs = ", ".join(_series_name(arg.default) for arg in function.inputs)
    engine = _through_the_engine(f"{name}({inputs})")
    direct = _direct(function, {})

    assert engine.shape == direct.shape
    if function.talib in KERNELS:  # our kernel: TA-Lib's within 1e-9, same warm-up
        np.testing.assert_array_equal(np.isnan(engine), np.isnan(direct))
        np.testing.assert_allclose(engine, direct, rtol=1e-9, atol=1e-9 * np.nanmax(np.abs(direct)))
    else:
        np.testing.assert_array_equal(engine, direct)


def _first_value(values: np.ndarray[Any, Any]) -> int:
    return int(np.flatnonzero(~np.isnan(values))[0])


@pytest.mark.parametrize(
    ("rule", "talib_name", "arguments"),
    [
        ("ema(close, 2)", "EMA", {"timeperiod": 2}),
        ("ema(close, 10)", "EMA", {"timeperiod": 10}),
        ("ema(close, 200)", "EMA", {"timeperiod": 200}),
        ("rsi(close, 2)", "RSI", {"timeperiod": 2}),
        ("rsi(close, 14)", "RSI", {"timeperiod": 14}),
        ("rsi(close, 50)", "RSI", {"timeperiod": 50}),
        ("atr(high, low, close, 1)", "ATR", {"timeperiod": 1}),
        ("atr(14)", "ATR", {"timeperiod": 14}),
        ("atr(high, low, close, 30)", "ATR", {"timeperiod": 30}),
        ("macd(close, 12, 26, 9)", "MACD", {}),
        (
            "macd_signal(close, 5, 35, 5)",
            "MACD",
            {"fastperiod": 5, "slowperiod": 35, "signalperiod": 5},
        ),
        ("macd_hist(close, 26, 12, 9)", "MACD", {"fastperiod": 26, "slowperiod": 12}),
        ("macd(close, 3, 10, 1)", "MACD", {"fastperiod": 3, "slowperiod": 10, "signalperiod": 1}),
        ("sma(close, 2)", "SMA", {"timeperiod": 2}),
        ("wma(close, 20)", "WMA", {"timeperiod": 20}),
        ("stddev(close, 20, 1.5)", "STDDEV", {"timeperiod": 20, "nbdev": 1.5}),
        ("max(close, 10)", "MAX", {"timeperiod": 10}),
        ("min(close, 10)", "MIN", {"timeperiod": 10}),
        ("roc(close, 1)", "ROC", {"timeperiod": 1}),
        ("bbands_lower(close, 10, 1, 3)", "BBANDS", {"timeperiod": 10, "nbdevup": 1, "nbdevdn": 3}),
    ],
)
def test_our_kernels_equal_ta_lib_from_their_first_value(
    rule: str, talib_name: str, arguments: dict[str, float]
) -> None:
    function = FUNCTIONS[rule.split("(")[0]]
    engine = _through_the_engine(rule)
    direct = _direct(function, arguments)

    assert function.talib == talib_name
    assert _first_value(engine) == _first_value(direct)
    np.testing.assert_array_equal(np.isnan(engine), np.isnan(direct))
    np.testing.assert_allclose(engine, direct, rtol=1e-9)


@pytest.mark.parametrize(
    ("rule", "direct"),
    [
        ("stdev(close, 20)", lambda: talib.STDDEV(BARS.close, 20, 1)),
        ("stdev(close, 2)", lambda: talib.STDDEV(BARS.close, 2, 1)),
        ("highest(close, 10)", lambda: talib.MAX(BARS.close, 10)),
        ("lowest(low, 30)", lambda: talib.MIN(BARS.low, 30)),
        ("bb_upper(close, 20, 2)", lambda: talib.BBANDS(BARS.close, 20, 2, 2)[0]),
        ("bb_middle(close, 20)", lambda: talib.BBANDS(BARS.close, 20, 2, 2)[1]),
        ("bb_lower(close, 10, 1.5)", lambda: talib.BBANDS(BARS.close, 10, 1.5, 1.5)[2]),
    ],
)
def test_the_languages_own_functions_equal_ta_lib_where_it_has_them(
    rule: str, direct: Callable[[], np.ndarray[Any, Any]]
) -> None:
    """stdev, highest, lowest and the bands predate the TA-Lib names; they are the same
    numbers (our windows are exact, TA-Lib's running sums drift by about 1e-12)."""
    engine, expected = _through_the_engine(rule), direct()

    assert FUNCTIONS[rule.split("(")[0]].talib == ""
    assert _first_value(engine) == _first_value(expected)
    np.testing.assert_array_equal(np.isnan(engine), np.isnan(expected))
    np.testing.assert_allclose(engine, expected, rtol=1e-9)


def test_an_indicator_of_an_indicator_starts_where_ta_lib_starts_it() -> None:
    engine = _through_the_engine("ema(rsi(close, 14), 9)")
    direct = talib.EMA(talib.RSI(BARS.close, 14), 9)

    assert _first_value(engine) == _first_value(direct) == 14 + 8
    np.testing.assert_allclose(engine, direct, rtol=1e-9)


def test_a_moving_average_type_is_named_and_computed_as_ta_lib_numbers_it() -> None:
    engine = _through_the_engine("stoch_slowd(high, low, close, 14, 3, ema, 3, t3)")
    direct = talib.STOCH(BARS.high, BARS.low, BARS.close, 14, 3, MA_Type.EMA, 3, MA_Type.T3)[1]

    np.testing.assert_array_equal(engine, direct)


def test_kernel_arguments_match_ta_lib_order() -> None:
    for name in KERNELS:
        function = next(f for f in FUNCTIONS.values() if f.talib == name)
        assert all(arg.kind is not ArgKind.MA_TYPE for arg in function.args) or name == "BBANDS"
