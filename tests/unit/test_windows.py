"""Moving windows: a window's value is the exact one, correctly rounded or within a few
ulp, wherever the window lies, so ties between a price and its own average hold."""

from __future__ import annotations

from datetime import UTC, datetime
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend_services.market_data.table_files import read_sample
from backend_services.services.backtest.backtest_engine import BacktestEngine
from backend_services.services.backtest.engine import indicators, windows
from shared.contracts.backtests import ResolvedBacktest
from shared.contracts.strategies import Costs, Orders, Rules
from shared.market_data.bars import Bars, FloatArray


def _exact_mean(window: FloatArray) -> Fraction:
    return sum((Fraction(value) for value in window.tolist()), Fraction(0)) / len(window)


def _exact_deviation(window: FloatArray) -> float:
    mean = _exact_mean(window)
    variance = sum(((Fraction(v) - mean) ** 2 for v in window.tolist()), Fraction(0))
    deviation: float = float(variance / len(window)) ** 0.5
    return deviation


def _exact_weighted_mean(window: FloatArray) -> float:
    weighted = sum(
        (Fraction(value) * (index + 1) for index, value in enumerate(window.tolist())),
        Fraction(0),
    )
    return float(weighted / (len(window) * (len(window) + 1) // 2))


def _ulps(value: float, expected: float, scale: float) -> float:
    """How many ulps of `scale` (the data's magnitude) separate value from expected."""
    return abs(value - expected) / float(np.spacing(abs(scale)))


def _flat_bars(close: FloatArray) -> Bars:
    count = close.shape[0]
    return Bars(
        time=3_600 * np.arange(count, dtype=np.int64),
        open=close,
        high=close,
        low=close,
        close=close,
        volume=np.ones(count),
    )


def _price_against_its_average(bars: Bars, period: int) -> ResolvedBacktest:
    return ResolvedBacktest(
        symbol="FLAT",
        timeframe="1h",
        start_date=datetime(1970, 1, 1, tzinfo=UTC),
        end_date=datetime(2100, 1, 1, tzinfo=UTC),
        initial_capital=10_000,
        parameters={"period": period},
        rules=Rules(
            long_entry="close > sma(close, period)", long_exit="close < sma(close, period)"
        ),
        orders=Orders(),
        costs=Costs(commission_pct=0.001),
    )


@pytest.mark.parametrize("count", [6, 10_000])
def test_equal_prices_never_cross_their_own_average(count: int) -> None:
    bars = _flat_bars(np.full(count, 1.10))

    result = BacktestEngine().run(bars, _price_against_its_average(bars, 3), "s").result

    assert result.total_trades == 0
    assert result.final_equity == 10_000


def test_eurusd_close_equal_to_the_mean_of_six_is_no_signal() -> None:
    table = read_sample("EURUSD")
    at = int(np.searchsorted(table.time, int(datetime(2017, 7, 24, tzinfo=UTC).timestamp())))

    average = indicators.sma(table.close, 6)

    assert table.close[at] == 1.1671
    assert average[at] == 1.1671
    assert not table.close[at] > average[at]


def test_every_eurusd_average_is_the_correctly_rounded_window_mean() -> None:
    close = read_sample("EURUSD").close
    for period in range(3, 31):
        sums = [Fraction(0)]
        for value in close.tolist():
            sums.append(sums[-1] + Fraction(value))
        exact = np.array(
            [
                float((sums[i + 1] - sums[i + 1 - period]) / period)
                for i in range(period - 1, len(close))
            ]
        )
        np.testing.assert_array_equal(indicators.sma(close, period)[period - 1 :], exact)


_REALISTIC = st.floats(min_value=1e-3, max_value=1e6, allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None)
@given(
    cycle=st.lists(_REALISTIC, min_size=1, max_size=12),
    repeats=st.integers(min_value=2, max_value=60),
)
def test_an_exactly_periodic_series_has_a_constant_average(
    cycle: list[float], repeats: int
) -> None:
    period = len(cycle)
    prices = np.tile(np.array(cycle), repeats)

    average = indicators.sma(prices, period)[period - 1 :]
    exact = float(_exact_mean(prices[:period]))

    assert np.all(average == exact)
    # A comparison with the average fires exactly where the exact comparison holds.
    above = prices[period - 1 :] > average
    assert above.tolist() == [
        Fraction(p) > _exact_mean(prices[:period]) for p in prices[period - 1 :].tolist()
    ]


@settings(max_examples=40, deadline=None)
@given(price=_REALISTIC, count=st.integers(min_value=1, max_value=400))
def test_equal_prices_are_their_own_window_statistics(price: float, count: int) -> None:
    prices = np.full(count + 25, price)
    period = min(count, 20)

    for values in (
        indicators.sma(prices, period),
        indicators.wma(prices, period),
        indicators.highest(prices, period),
        indicators.lowest(prices, period),
        indicators.bollinger(prices, period, 2.0),
        indicators.bollinger(prices, period, -2.0),
        indicators.ema(prices, period),
    ):
        assert np.all(values[period - 1 :] == price)
    assert np.all(indicators.stdev(prices, period)[period - 1 :] == 0.0)


@settings(max_examples=50, deadline=None)
@given(
    seed=st.integers(min_value=0, max_value=2**32 - 1),
    count=st.integers(min_value=1, max_value=3_000),
    period=st.integers(min_value=1, max_value=200),
    level=st.sampled_from([1e-4, 1.0, 1.1671, 100.0, 6e4, 1e8]),
    volatility=st.sampled_from([0.0, 1e-9, 1e-4, 0.01, 0.2]),
)
def test_windows_match_a_direct_window_computation(
    seed: int, count: int, period: int, level: float, volatility: float
) -> None:
    rng = np.random.default_rng(seed)
    prices = level * np.exp(np.cumsum(rng.normal(0, volatility, count)))
    _check_windows(prices, period, rng.integers(0, count, 25))


def test_windows_at_a_million_bars_match_a_direct_window_computation() -> None:
    rng = np.random.default_rng(7)
    prices = 100 * np.exp(np.cumsum(rng.normal(0, 0.001, 1_000_000)))
    for period in (3, 50, 200, 1_000):
        _check_windows(prices, period, rng.integers(999_000, 1_000_000, 40))


def _check_windows(prices: FloatArray, period: int, positions: np.ndarray) -> None:
    mean = indicators.sma(prices, period)
    deviation = indicators.stdev(prices, period)
    weighted = indicators.wma(prices, period)
    highest, lowest = indicators.highest(prices, period), indicators.lowest(prices, period)
    for i in positions.tolist():
        if i < period - 1:
            for values in (mean, deviation, weighted, highest, lowest):
                assert np.isnan(values[i])
            continue
        window = prices[i - period + 1 : i + 1]
        scale = float(np.max(np.abs(window)))
        assert _ulps(mean[i], float(_exact_mean(window)), mean[i]) <= 0.5
        assert _ulps(weighted[i], _exact_weighted_mean(window), scale) <= 2
        expected_deviation = _exact_deviation(window)
        assert abs(deviation[i] - expected_deviation) <= 4 * np.spacing(expected_deviation) + (
            4 * np.spacing(scale) * 1e-8
        )
        assert highest[i] == window.max()
        assert lowest[i] == window.min()


def test_a_window_holding_missing_history_has_no_value() -> None:
    values = np.array([np.nan, np.nan, 1.0, 2.0, 3.0, np.nan, 5.0, 6.0, 7.0])

    for window in (windows.window_mean, windows.window_deviation, windows.weighted_mean):
        computed = window(values, 2)
        assert np.isnan(computed[:3]).all()
        assert np.isfinite(computed[3:5]).all()
        assert np.isnan(computed[5:7]).all()
        assert np.isfinite(computed[7:]).all()
    np.testing.assert_array_equal(
        windows.window_max(values, 2), [np.nan, np.nan, np.nan, 2, 3, np.nan, np.nan, 6, 7]
    )
    np.testing.assert_array_equal(windows.smoothed(values, 0.5)[:5], [np.nan, np.nan, 1, 1.5, 2.25])


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("period", [1, 3, 700])
def test_a_value_that_is_not_finite_is_noticed_wherever_it_lies(bad: float, period: int) -> None:
    """The kernels notice non-finite values as they read them: at the start, at a block's
    edges and at the very end alike."""
    clean = 100 * np.exp(np.cumsum(np.random.default_rng(3).normal(0, 0.01, 1_600)))
    for at in (0, 1, period - 1, 511, 512, 513, 1_023, 1_024, 1_599):
        values = clean.copy()
        values[at] = bad
        holding = (np.arange(1_600) >= at) & (np.arange(1_600) < at + period)
        for window in (windows.window_mean, windows.window_deviation, windows.weighted_mean):
            computed, expected = window(values, period), window(clean, period)
            assert np.isnan(computed[holding]).all()
            np.testing.assert_array_equal(computed[~holding], expected[~holding])
