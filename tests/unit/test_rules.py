"""The rule language: what parses, what is refused (where, and with which hint), and what
the indicators compute, checked against independent computations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from backend_services.services.backtest.engine import indicators
from backend_services.services.backtest.engine.evaluate import RuleEvaluator
from shared.market_data.bars import Bars
from shared.rules.checks import parameters_used_as_periods
from shared.rules.parser import MAX_DEPTH, MAX_RULE_CHARS, RuleError, parse_rule

PARAMETERS = {"fast": 3.0, "slow": 5.0, "level": 101.0}


def bars_of(closes: list[float]) -> Bars:
    c = np.array(closes, dtype=float)
    return Bars(
        time=np.arange(len(c), dtype=np.int64) * 86_400,
        open=c - 0.5,
        high=c + 1,
        low=c - 1,
        close=c,
        volume=np.full(len(c), 10.0),
    )


BARS = bars_of([100, 101, 102, 101, 100, 99, 100, 102, 104, 103, 101, 100])


def fired(rule: str, bars: Bars = BARS) -> list[int]:
    node = parse_rule(rule, PARAMETERS)
    return np.flatnonzero(RuleEvaluator(bars, PARAMETERS).condition(node)).tolist()


@pytest.mark.parametrize(
    ("rule", "bars"),
    [
        ("close > 101", [2, 7, 8, 9]),
        ("close > level", [2, 7, 8, 9]),
        ("close[1] < close and close > 101", [2, 7, 8]),
        ("not close >= 101", [0, 4, 5, 6, 11]),
        ("close - open == 0.5 and (close > 103 or close < 100)", [5, 8]),
        ("-close < -103.5", [8]),
        ("close / 2 * 4 > 2 * 103", [8]),
        ("crossover(close, sma(close, fast))", [6]),
        ("crossunder(close, sma(close, fast))", [3, 10]),  # 9 touches, 10 crosses
        ("volume > 9 and close == highest(close, slow)", [7, 8]),
        ("close == lowest(close, 3)", [3, 4, 5, 10, 11]),
        ("roc(close, 2) > 0.021", [7, 8]),
    ],
)
def test_rules_fire_on_the_expected_bars(rule: str, bars: list[int]) -> None:
    assert fired(rule) == bars


def test_a_rule_never_fires_where_its_history_is_missing() -> None:
    assert fired("sma(close, slow) > 0")[0] == 4
    assert fired("close[3] > 0")[0] == 3


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("smaa(close, 5) > close", "unknown function 'smaa' at 1:1, did you mean 'sma'?"),
        ("close > sma(clos, 5)", "unknown name 'clos' at 1:13, did you mean 'close'?"),
        ("close > fats", "unknown name 'fats' at 1:9, did you mean 'fast'?"),
        ("close >", "expected a value, found 'end of rule' at 1:8"),
        ("close > 1 2", "unexpected '2' at 1:11"),
        ("close + 1", "a rule must be a condition, this is a series at 1:1"),
        ("close > 1 and 2", "'and' needs conditions, not a number at 1:11"),
        ("sma(close, 0) > 1", "a period must be a whole number from 1 to 1000 at 1:12"),
        ("sma(close, 2.5) > 1", "a period must be a whole number"),
        ("sma(close, close) > 1", "argument 2 of sma must be a number or a parameter at 1:12"),
        ("sma(3, 5) > 1", "argument 1 of sma must be a series, not a number at 1:5"),
        ("rsi(close, 14, 3) > 1", "rsi takes (series, period=14)"),
        ("sma(close) > 1", "sma takes (series, period), given 1 argument(s) at 1:1"),
        ("close[2.5] > 1", "a bar offset must be a whole number, found '2.5' at 1:7"),
        ("close.real > 1", "unexpected character '.' at 1:6"),
        ("__import__('os') > 1", "unexpected character '''"),
        ("sma > 1", "'sma' is a function at 1:1, call it: sma(...)"),
        ("1 < 2", "comparing two constants is always the same at 1:3"),
        ("(close > 1) > 2", "'>' compares numbers or series, not conditions"),
        ("close > 1\nand clos < 5", "unknown name 'clos' at 2:5, did you mean 'close'?"),
    ],
)
def test_bad_rules_are_refused_with_where_and_why(rule: str, message: str) -> None:
    with pytest.raises(RuleError) as refused:
        parse_rule(rule, PARAMETERS)

    assert message in str(refused.value)


def test_size_and_depth_are_bounded() -> None:
    with pytest.raises(RuleError, match="longer than"):
        parse_rule("close > 1 or " * (MAX_RULE_CHARS // 10) + "close > 1", PARAMETERS)
    with pytest.raises(RuleError, match="nested deeper"):
        parse_rule("(" * (MAX_DEPTH + 1) + "close > 1" + ")" * (MAX_DEPTH + 1), PARAMETERS)


def test_parameters_used_as_periods_are_found() -> None:
    node = parse_rule("sma(close, fast) > level and close[1] > sma(close, slow)", PARAMETERS)

    assert parameters_used_as_periods(node) == {"fast", "slow"}


rng = np.random.default_rng(5)
PRICES = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 300)))
SERIES = pd.Series(PRICES)


def test_indicators_against_pandas() -> None:
    np.testing.assert_allclose(
        indicators.ema(PRICES, 10)[9:], SERIES.ewm(span=10, adjust=False).mean()[9:]
    )
    weights = np.arange(1, 11, dtype=float)
    wma = SERIES.rolling(10).apply(lambda window: np.dot(window, weights) / weights.sum())
    np.testing.assert_allclose(indicators.wma(PRICES, 10)[9:], wma[9:])
    np.testing.assert_allclose(
        indicators.stdev(PRICES, 20)[19:], SERIES.rolling(20).std(ddof=0)[19:]
    )
    upper = SERIES.rolling(20).mean() + 2 * SERIES.rolling(20).std(ddof=0)
    np.testing.assert_allclose(indicators.bollinger(PRICES, 20, 2)[19:], upper[19:])
    fast, slow = SERIES.ewm(span=12, adjust=False).mean(), SERIES.ewm(span=26, adjust=False).mean()
    np.testing.assert_allclose(indicators.macd(PRICES, 12, 26)[25:], (fast - slow)[25:])
    signal = (fast - slow).ewm(span=9, adjust=False).mean()
    np.testing.assert_allclose(indicators.macd_signal(PRICES, 12, 26, 9)[33:], signal[33:])
    np.testing.assert_allclose(indicators.roc(PRICES, 5)[5:], (SERIES / SERIES.shift(5) - 1)[5:])


def test_rsi_by_wilders_definition() -> None:
    change = np.diff(PRICES)
    gain, loss = np.maximum(change, 0), np.maximum(-change, 0)
    average_gain, average_loss = gain[0], loss[0]
    expected = [np.nan] * len(PRICES)
    for i in range(1, len(change)):
        average_gain = average_gain + (gain[i] - average_gain) / 14
        average_loss = average_loss + (loss[i] - average_loss) / 14
        expected[i + 1] = 100 - 100 / (1 + average_gain / average_loss)

    np.testing.assert_allclose(indicators.rsi(PRICES, 14)[15:], expected[15:])
    assert np.isnan(indicators.rsi(PRICES, 14)[:14]).all()


def test_atr_by_wilders_definition() -> None:
    bars = bars_of(list(PRICES))
    previous = np.concatenate([[np.nan], bars.close[:-1]])
    true_range = np.nanmax(
        [bars.high - bars.low, np.abs(bars.high - previous), np.abs(bars.low - previous)], axis=0
    )
    expected = pd.Series(true_range).ewm(alpha=1 / 14, adjust=False).mean()

    np.testing.assert_allclose(
        indicators.atr(bars.high, bars.low, bars.close, 14)[13:], expected[13:]
    )
