"""Statistics against values computed independently (stdlib statistics, by hand)."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest

from backend_services.services.backtest.engine.drawdowns import Drawdowns
from backend_services.services.backtest.engine.metrics import (
    compute_statistics,
    periods_per_year,
    trading_days_per_year,
)
from backend_services.services.backtest.engine.simulation import (
    SimulatedTrade,
    Simulation,
    TradeLog,
)
from shared.market_data.bars import Bars

DAY = 86_400


def _bars(closes: list[float]) -> Bars:
    c = np.array(closes, dtype=float)
    return Bars(
        time=np.arange(len(c), dtype=np.int64) * DAY,
        open=c,
        high=c,
        low=c,
        close=c,
        volume=np.ones(len(c)),
    )


def _trade(pnl: float, invested: float = 100.0, bars_held: int = 1) -> SimulatedTrade:
    return SimulatedTrade(
        "long", 0, 1, 1.0, 1.0, 1.0, pnl, pnl / invested, "signal", bars_held=bars_held
    )


def test_drawdowns_their_depths_and_durations() -> None:
    equity = np.array([100, 110, 99, 104.5, 121, 60.5])

    drawdowns = Drawdowns.of(equity)

    assert drawdowns.falls == pytest.approx([0, 0, -0.1, -0.05, 0, -0.5])
    assert drawdowns.depths == pytest.approx([-0.1, -0.5])
    assert drawdowns.lengths.tolist() == [2, 1]


def test_drawdowns_of_equity_that_never_rises_above_zero_are_zero() -> None:
    drawdowns = Drawdowns.of(np.array([-5.0, -3.0, -4.0]))

    assert drawdowns.falls.tolist() == [0, 0, 0]
    assert drawdowns.depths.size == drawdowns.lengths.size == 0


def test_annualisation_follows_the_calendar_and_timeframe() -> None:
    monday = 4 * DAY  # 1970-01-05
    weekdays = monday + np.array([0, 1, 2, 3, 4, 7, 8, 9], dtype=np.int64) * DAY
    every_day = np.arange(10, dtype=np.int64) * DAY
    weekly = monday + np.arange(8, dtype=np.int64) * 7 * DAY
    hourly = monday + np.arange(0, 5 * DAY, 3_600, dtype=np.int64)

    assert trading_days_per_year(weekdays) == 252
    assert trading_days_per_year(every_day) == 365
    assert trading_days_per_year(np.append(hourly, monday - 3_600)) == 252  # a Sunday bar
    assert periods_per_year(weekdays, 252) == 252
    assert periods_per_year(weekly, 252) == 52
    assert periods_per_year(hourly, 252) == 252 * 24


def test_bars_per_day_is_the_median_over_days_with_bars() -> None:
    monday = 4 * DAY
    # Monday 10 bars, Tuesday 3 (the 4 h gap makes no step the majority), Friday 2
    hours = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 24, 28, 32, 96, 97]
    time = monday + np.array(hours, dtype=np.int64) * 3_600

    # Steps of 1 h are 11 of 14: the median step is an hour, so bars are intraday.
    assert periods_per_year(time, 252) == 252 * 3
    uneven = monday + np.array([0, 1, 3, 6, 7], dtype=np.int64) * DAY  # steps 1, 2, 3, 1 days
    assert periods_per_year(uneven, 252) == 252  # median step 1.5 days counts as daily


def test_statistics_of_a_known_equity_curve() -> None:
    equity = [100.0, 110.0, 99.0, 121.0]
    returns = [0.1, -0.1, 121 / 99 - 1]
    trades = [_trade(50, bars_held=2), _trade(-25, bars_held=1), _trade(10, bars_held=6)]
    simulation = Simulation(
        equity=np.array(equity),
        in_position=np.array([False, True, True, False]),
        trades=TradeLog.of(trades),
    )

    stats = compute_statistics(_bars([10, 11, 12, 13]), simulation, 100.0)

    years = 3 / 365.25
    assert stats.trading_days_per_year == 365  # 1970-01-03 and 04 were a weekend
    assert stats.periods_per_year == 365
    assert stats.duration_days == 3
    assert stats.total_return == pytest.approx(0.21)
    assert stats.equity_peak == 121
    assert stats.buy_and_hold_return == pytest.approx(0.3)
    assert stats.cagr == pytest.approx(1.21 ** (1 / years) - 1)
    per_bar_sharpe = statistics.mean(returns) / statistics.stdev(returns)
    assert stats.sharpe_ratio == pytest.approx(per_bar_sharpe * math.sqrt(365))
    assert stats.volatility == pytest.approx(statistics.stdev(returns) * math.sqrt(365))
    downside = math.sqrt(sum(min(r, 0) ** 2 for r in returns) / 3)
    assert stats.sortino_ratio == pytest.approx(
        statistics.mean(returns) / downside * math.sqrt(365)
    )
    assert stats.max_drawdown == pytest.approx(-0.1)
    assert stats.calmar_ratio == pytest.approx(stats.cagr / 0.1)
    assert stats.average_drawdown == pytest.approx(-0.1)
    assert stats.max_drawdown_duration_bars == 1
    assert stats.average_drawdown_duration_bars == 1
    assert stats.max_trade_duration_bars == 6
    assert stats.average_trade_duration_bars == 3
    trade_returns = [0.5, -0.25, 0.1]
    assert stats.sqn == pytest.approx(
        math.sqrt(3) * statistics.mean(trade_returns) / statistics.stdev(trade_returns)
    )
    assert stats.exposure == 0.5
    assert stats.total_trades == 3
    assert stats.win_rate == pytest.approx(2 / 3)
    assert stats.profit_factor == pytest.approx(60 / 25)
    assert stats.best_trade == pytest.approx(0.5)
    assert stats.worst_trade == pytest.approx(-0.25)
    assert stats.average_trade == pytest.approx(35 / 300)
    assert stats.expectancy == pytest.approx(35 / 3)


def test_ratios_without_meaning_are_none_not_infinite() -> None:
    flat = Simulation(
        equity=np.full(4, 100.0), in_position=np.zeros(4, bool), trades=TradeLog.of([])
    )

    stats = compute_statistics(_bars([10, 11, 12, 13]), flat, 100.0)

    assert stats.sharpe_ratio is None
    assert stats.sortino_ratio is None
    assert stats.win_rate is None
    assert stats.profit_factor is None
    assert stats.expectancy is None
    assert stats.sqn is None
    assert stats.calmar_ratio is None
    assert stats.total_return == 0
    assert stats.max_drawdown == 0
    assert stats.average_drawdown == 0


def test_equity_that_is_wiped_out_has_a_cagr_of_minus_one() -> None:
    gone = Simulation(
        equity=np.array([100.0, 50.0, -10.0]), in_position=np.ones(3, bool), trades=TradeLog.of([])
    )

    stats = compute_statistics(_bars([10, 11, 12]), gone, 100.0)

    assert stats.cagr == -1
    assert stats.total_return == pytest.approx(-1.1)


def test_profit_factor_is_none_without_a_losing_trade() -> None:
    winners = Simulation(
        equity=np.array([100.0, 150.0]),
        in_position=np.zeros(2, bool),
        trades=TradeLog.of([_trade(50)]),
    )

    assert compute_statistics(_bars([1, 2]), winners, 100.0).profit_factor is None


def test_kelly_alpha_and_beta_of_a_known_run() -> None:
    equity = [100.0, 104.0, 101.0, 109.0, 108.0]
    closes = [10.0, 10.5, 10.0, 11.0, 11.5]
    trades = [_trade(40), _trade(-10), _trade(20), _trade(-30)]
    simulation = Simulation(
        equity=np.array(equity), in_position=np.ones(5, bool), trades=TradeLog.of(trades)
    )

    stats = compute_statistics(_bars(closes), simulation, 100.0)

    own = np.diff(equity) / equity[:-1]
    asset = np.diff(closes) / closes[:-1]
    beta = np.cov(own, asset)[0, 1] / np.var(asset, ddof=1)
    assert stats.beta == pytest.approx(beta, rel=1e-12)
    assert stats.alpha == pytest.approx(0.08 - beta * 0.15, rel=1e-12)
    win_rate, average_win, average_loss = 0.5, 30.0, 20.0
    assert stats.kelly_criterion == pytest.approx(
        win_rate - (1 - win_rate) / (average_win / average_loss)
    )


def test_kelly_and_beta_without_meaning_are_none() -> None:
    flat_asset = Simulation(
        equity=np.array([100.0, 110.0, 105.0]),
        in_position=np.ones(3, bool),
        trades=TradeLog.of([_trade(5)]),
    )

    stats = compute_statistics(_bars([10, 10, 10]), flat_asset, 100.0)

    assert stats.beta is None
    assert stats.alpha is None
    assert stats.kelly_criterion is None  # no losing trade


def test_drawdown_duration_counts_the_bars_below_the_peak() -> None:
    equity = np.array([100.0, 90.0, 95.0, 100.0, 80.0, 120.0, 119.0])

    drawdowns = Drawdowns.of(equity)

    # 90 and 95 below the peak of 100 (the bar back at 100 is not counted), then 80,
    # then 119 below 120 until the end.
    assert drawdowns.lengths.tolist() == [2, 1, 1]
