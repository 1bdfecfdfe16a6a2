"""The rule language: what parses, what is refused (where, and with which hint), and what
the indicators compute, checked against independent computations."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from pydantic import TypeAdapter, ValidationError

from backend_services.services.backtest.engine import indicators
from backend_services.services.backtest.engine.evaluate import RuleEvaluator
from shared.contracts.strategies import Parameters
from shared.market_data.bars import Bars
from shared.rules.checks import (
    check_parameter_values,
    history_needed,
    parameters_used_as_periods,
)
from shared.rules.parser import (
    MAX_DEPTH,
    MAX_RULE_CHARS,
    Binary,
    Parameter,
    RuleError,
    parse_rule,
)

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
        ("roc(close, 2) > 2.1", [7, 8]),  # percent, as TA-Lib
        ("atr(3) > 2.4 and adx(high, low, close, 3) > 40", [8]),
    ],
)
def test_rules_fire_on_the_expected_bars(rule: str, bars: list[int]) -> None:
    assert fired(rule) == bars


def test_a_rule_never_fires_where_its_history_is_missing() -> None:
    assert fired("sma(close, slow) > 0")[0] == 4
    assert fired("close[3] > 0")[0] == 3


@pytest.mark.parametrize(
    ("rule", "function"),
    [
        ("sma(close, slow) > 0", "sma"),
        ("sma(close, 20)[10] > 0", "sma"),  # the shift's bars on top of the call's
        ("sma(close, 5)[3] > 0 and close > 0", "sma"),
        ("sma(close[4], 10) > 0", "sma"),
        ("ema(rsi(close, 14), 9)[2] > 0 or close[40] > 0", "ema"),
        ("adx(high, low, close, 14) > 25", "adx"),
    ],
)
def test_the_history_a_rule_needs_is_where_it_first_has_a_value(rule: str, function: str) -> None:
    """The bars `history_needed` counts are the evaluated rule's: the first bar a rule
    that is true wherever it has a value fires on is the last of them."""
    rising = bars_of([100.0 + k + (k % 3) for k in range(120)])
    need = history_needed(parse_rule(rule, PARAMETERS), PARAMETERS)

    assert need is not None
    assert need.function == function
    assert fired(rule, rising)[0] == need.bars - 1


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
        (
            "sma(close, 0) > 1",
            "sma (timeperiod) must be a whole number from 1 to 1000 at 1:12",
        ),
        (
            "rsi(close, 1) > 1",
            "rsi (timeperiod) must be a whole number from 2 to 1000 at 1:12",
        ),
        ("sma(close, 2.5) > 1", "(timeperiod) must be a whole number"),
        ("sma(close, close) > 1", "argument 2 of sma (timeperiod) must be a number or a parameter"),
        (
            "sma(3 * close, 5, 2) > 1",
            "sma takes (close, timeperiod=30), given 3 argument(s) at 1:1",
        ),
        ("crossover(close, 3)", "argument 2 of crossover (b) must be a series, not a number"),
        ("rsi(close, 14, 3) > 1", "rsi takes (close, timeperiod=14)"),
        ("stdev(close) > 1", "stdev takes (series, period), given 1 argument(s) at 1:1"),
        ("adx(14, 3) > 1", "adx takes (high, low, close, timeperiod=14), given 2 argument(s)"),
        ("ma(close, 30, 1) > 1", "argument 3 of ma (matype) is a moving-average type, by name"),
        ("crossover(close, sma)", "not a moving-average type at 1:18, call it: sma(...)"),
        ("mavp(close, close, 30, 5) > 1", "mavp cannot take these arguments together at 1:1"),
        ("t3(close, 5, 1.5) > 1", "argument 3 of t3 (vfactor) must be 1 or less at 1:14"),
        ("sar(high, low, -0.02) > 1", "argument 3 of sar (acceleration) must be 0 or more"),
        ("close > \u0661\u0662", "unexpected character '\u0661': numbers are written with"),
        ("close[2.5] > 1", "a bar offset must be a whole number, found '2.5' at 1:7"),
        ("close.real > 1", "unexpected character '.' at 1:6"),
        ("close >\u00a01", "unexpected character U+00A0 at 1:8"),
        ("close > 1\u202e", "unexpected character U+202E at 1:10"),
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


def test_every_error_of_a_rule_is_reported_at_once() -> None:
    with pytest.raises(RuleError) as refused:
        parse_rule("smaa(close, 5) > clos and rsi(close, 1) > 1 and 2 * close", PARAMETERS)
    with pytest.raises(RuleError) as unreadable:
        parse_rule("close > \u0661\u0662 and close < $", PARAMETERS)

    assert [str(problem) for problem in refused.value.problems] == [
        "unknown function 'smaa' at 1:1, did you mean 'sma'?",
        "unknown name 'clos' at 1:18, did you mean 'close'?",
        "argument 2 of rsi (timeperiod) must be a whole number from 2 to 1000 at 1:38",
        "'and' needs conditions, not a series at 1:45",
    ]
    assert str(unreadable.value) == (
        "unexpected character '\u0661': numbers are written with the digits 0-9 at 1:9; "
        "unexpected character '\u0662': numbers are written with the digits 0-9 at 1:10; "
        "unexpected character '$' at 1:24"
    )


@pytest.mark.parametrize(
    "rule",
    [
        "adx(high, low, close, 14) > 25",
        "adx(14) > 25 and plus_di(14) > minus_di(14)",
        "stoch_slowk(high, low, close) > stoch_slowd(high, low, close)",
        "close > bbands_upper(close, 20, 2, 2, ema)",
        "cdlengulfing_bullish(open, high, low, close) or cdlhammer_bearish()",
        "cdlengulfing(open, high, low, close) > 0",
        "macd(close) > macd_signal(close, 12, 26, 9)",
        "stoch_slowk(high, low, close, fast, 3, wma, slow, kama) > 80",
    ],
)
def test_ta_lib_functions_parse_by_their_names(rule: str) -> None:
    parse_rule(rule, PARAMETERS)


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


def _seeded_by_definition(values: np.ndarray, period: int, alpha: float) -> np.ndarray:
    """Wilder's and TA-Lib's exponential average: the mean of the first `period`
    values, then each value moving it by alpha; NaN before (and over leading NaN)."""
    start = int(np.flatnonzero(~np.isnan(values))[0])
    expected = np.full(len(values), np.nan)
    level = values[start : start + period].mean()
    expected[start + period - 1] = level
    for i in range(start + period, len(values)):
        level = level + alpha * (values[i] - level)
        expected[i] = level
    return expected


def test_indicators_against_pandas_and_their_definitions() -> None:
    np.testing.assert_allclose(
        indicators.ema(PRICES, 10), _seeded_by_definition(PRICES, 10, 2 / 11)
    )
    weights = np.arange(1, 11, dtype=float)
    wma = SERIES.rolling(10).apply(lambda window: np.dot(window, weights) / weights.sum())
    np.testing.assert_allclose(indicators.wma(PRICES, 10)[9:], wma[9:])
    np.testing.assert_allclose(
        indicators.stdev(PRICES, 20)[19:], SERIES.rolling(20).std(ddof=0)[19:]
    )
    upper = SERIES.rolling(20).mean() + 2 * SERIES.rolling(20).std(ddof=0)
    np.testing.assert_allclose(indicators.bollinger(PRICES, 20, 2)[19:], upper[19:])
    np.testing.assert_allclose(
        indicators.roc(PRICES, 5)[5:], 100 * (SERIES / SERIES.shift(5) - 1)[5:]
    )


def test_macd_lines_by_their_definition() -> None:
    """Both averages start on bar slow - 1, the fast one from the mean of its own last
    `fast` values there; the three lines start once the signal has its first period."""
    fast = np.full(len(PRICES), np.nan)
    fast[26 - 12 :] = _seeded_by_definition(PRICES[26 - 12 :], 12, 2 / 13)
    line = fast - _seeded_by_definition(PRICES, 26, 2 / 27)
    signal = _seeded_by_definition(line, 9, 2 / 10)
    line[:33] = np.nan

    computed = indicators.macd_lines(PRICES, 12, 26, 9)

    np.testing.assert_allclose(computed[0], line)
    np.testing.assert_allclose(computed[1], signal)
    np.testing.assert_allclose(computed[2], line - signal)
    assert np.isnan(computed[0][:33]).all()
    assert not np.isnan(computed[0][33])


def test_rsi_by_wilders_definition() -> None:
    change = np.diff(PRICES)
    gain, loss = np.maximum(change, 0), np.maximum(-change, 0)
    average_gain, average_loss = gain[:14].mean(), loss[:14].mean()
    expected = [np.nan] * len(PRICES)
    expected[14] = 100 * average_gain / (average_gain + average_loss)
    for i in range(14, len(change)):
        average_gain = average_gain + (gain[i] - average_gain) / 14
        average_loss = average_loss + (loss[i] - average_loss) / 14
        expected[i + 1] = 100 * average_gain / (average_gain + average_loss)

    np.testing.assert_allclose(indicators.rsi(PRICES, 14), expected)


def test_atr_by_wilders_definition() -> None:
    """The true range starts on bar 1 (it needs the previous close); the average is
    the mean of the first 14, on bar 14, then Wilder's smoothing."""
    bars = bars_of(list(PRICES))
    previous = bars.close[:-1]
    true_range = np.max(
        [bars.high[1:] - bars.low[1:], np.abs(bars.high[1:] - previous),
         np.abs(bars.low[1:] - previous)],
        axis=0,
    )  # fmt: skip
    expected = np.concatenate([[np.nan], _seeded_by_definition(true_range, 14, 1 / 14)])

    np.testing.assert_allclose(indicators.atr(bars.high, bars.low, bars.close, 14), expected)


def test_a_parameter_may_share_a_functions_name() -> None:
    """A name followed by "(" is the function, elsewhere the parameter: strategies
    saved with a parameter named like one of TA-Lib's functions keep working."""
    node = parse_rule("max(close, 5) > max", {"max": 101.0})

    assert isinstance(node, Binary)
    assert node.right == Parameter("max")
    fired_bars = RuleEvaluator(BARS, {"max": 102.0}).condition(node)
    assert np.flatnonzero(fired_bars).tolist() == [8, 9, 10, 11]


@pytest.mark.parametrize("name", ["Fast", "9lives", "f\u0661", "x" * 33, ""])
def test_a_bad_parameter_name_is_refused_in_words(name: str) -> None:
    with pytest.raises(ValidationError) as refused:
        TypeAdapter(Parameters).validate_python({name: 1})

    [error] = refused.value.errors()
    assert error["msg"] == (
        "a parameter's name is 1 to 32 lower-case letters (a-z), digits and _, not starting "
        "with a digit"
    )
    assert error["loc"] == (name, "[key]")


@pytest.mark.parametrize(
    ("rule", "parameters", "message"),
    [
        ("t3(close, 5, k) > 1", {"k": 1.5}, "parameter 'k' is vfactor: it must be 1 or less"),
        ("rsi(close, n) > 1", {"n": 1}, "parameter 'n' is a period: it must be a whole number"),
        (
            "mavp(close, close, shortest, longest) > 1",
            {"shortest": 30, "longest": 5},
            "mavp cannot take these arguments together (parameters longest, shortest)",
        ),
    ],
)
def test_a_parameter_value_an_argument_cannot_take_is_refused_in_words(
    rule: str, parameters: dict[str, float], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        check_parameter_values(parse_rule(rule, parameters), parameters)
