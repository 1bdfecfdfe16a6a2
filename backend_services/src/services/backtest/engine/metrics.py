"""All statistics of a backtest, computed in one place from the equity curve and trades.

Definitions (fractions, not percents; returns are simple per-bar returns of the equity
curve, taken while the equity before them is positive; risk-free rate 0):
- trading_days_per_year: 365 when at least a fifth of the bars fall on a Saturday or
  Sunday (UTC), as in a market that never closes (crypto: two days in seven), else 252
  (a few Sunday-evening bars, as FX has, do not make a seven-day week);
- periods_per_year: 52 for weekly bars; trading_days_per_year for daily bars; for
  intraday bars, trading_days_per_year times the median number of bars per day with bars;
- duration_days: from the first bar's open time to the last's;
- cagr: (final / initial) ^ (365.25 / duration_days) - 1, and -1 once equity is gone;
- volatility: std(returns, ddof=1) * sqrt(periods_per_year);
- sharpe_ratio: mean(returns) / std(returns, ddof=1) * sqrt(periods_per_year);
- sortino_ratio: mean(returns) / sqrt(mean(min(returns, 0)^2)) * sqrt(periods_per_year);
- calmar_ratio: cagr / -max_drawdown;
- drawdown at a bar: equity / running peak - 1; max_drawdown is its minimum; a
  drawdown period runs from a peak to the next bar back at or above it (or the end);
  average_drawdown and average_drawdown_duration_bars average the deepest point and the
  length in bars of those periods; max_drawdown_duration_bars is the longest;
- exposure: the fraction of bars a position was held over;
- win_rate: the fraction of trades with pnl > 0; best/worst/average_trade over trade
  returns; max/average_trade_duration_bars over bars held; profit_factor: gross profit
  over gross loss; expectancy: average pnl per trade in money;
- sqn: sqrt(trades) * mean(trade returns) / std(trade returns, ddof=1), Van Tharp's
  system quality number.
Ratios undefined for a run (no variance, no loss, fewer than two trades) are None.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from backend_services.services.backtest.engine.compiled import compensated_add, compiled
from backend_services.services.backtest.engine.simulation import Simulation
from shared.contracts.results import BacktestStatistics
from shared.market_data.bars import Bars, FloatArray, IntArray

DAY_S = 86_400
DAYS_PER_YEAR = 365.25
_MONDAY_ORIGIN_S = 4 * DAY_S  # 1970-01-01 was a Thursday
_WEEKLY_PERIODS = 52.0
_WEEKEND_SHARE_OF_A_7_DAY_MARKET = 0.2


@dataclass(frozen=True, slots=True)
class Calendar:
    """What annualisation needs to know of the bars: the same for every run on them."""

    trading_days_per_year: Literal[252, 365]
    periods_per_year: float

    @classmethod
    def of(cls, time: IntArray) -> Calendar:
        days = _DayRuns.of(time)
        trading_days = _trading_days_per_year(time, days)
        return cls(trading_days, _periods_per_year(time, days, trading_days))


def compute_statistics(
    bars: Bars, simulation: Simulation, initial_capital: float, calendar: Calendar | None = None
) -> BacktestStatistics:
    """Statistics of a simulation over at least two bars; pass the bars' `calendar` when
    computing many on the same bars."""
    equity = simulation.equity
    duration_days = float(bars.time[-1] - bars.time[0]) / DAY_S
    calendar = calendar or Calendar.of(bars.time)
    trading_days, periods = calendar.trading_days_per_year, calendar.periods_per_year
    returns = _ReturnMoments.of(equity)
    trade_returns = simulation.trades.return_fraction
    trade_pnls = simulation.trades.pnl
    held = simulation.trades.bars_held
    final_equity = float(equity[-1])
    cagr = _cagr(final_equity / initial_capital, duration_days)
    drawdowns = simulation.drawdowns
    depths, lengths = drawdowns.depths, drawdowns.lengths
    max_drawdown = float(depths.min()) if depths.size else 0.0
    return BacktestStatistics(
        duration_days=duration_days,
        final_equity=final_equity,
        equity_peak=float(np.max(equity)),
        total_return=final_equity / initial_capital - 1,
        buy_and_hold_return=float(bars.close[-1] / bars.close[0] - 1),
        cagr=cagr,
        volatility=returns.deviation * np.sqrt(periods),
        sharpe_ratio=_ratio(returns.mean, returns.deviation, periods),
        sortino_ratio=_ratio(returns.mean, returns.downside, periods),
        calmar_ratio=cagr / -max_drawdown if max_drawdown < 0 else None,
        max_drawdown=max_drawdown,
        average_drawdown=float(np.mean(depths)) if depths.size else 0.0,
        max_drawdown_duration_bars=int(np.max(lengths)) if lengths.size else 0,
        average_drawdown_duration_bars=float(np.mean(lengths)) if lengths.size else 0.0,
        exposure=np.count_nonzero(simulation.in_position) / equity.shape[0],
        total_trades=len(simulation.trades),
        win_rate=_mean_or_none(trade_pnls > 0),
        profit_factor=_profit_factor(trade_pnls),
        best_trade=float(trade_returns.max()) if trade_returns.size else None,
        worst_trade=float(trade_returns.min()) if trade_returns.size else None,
        average_trade=_mean_or_none(trade_returns),
        max_trade_duration_bars=int(held.max()) if held.size else None,
        average_trade_duration_bars=_mean_or_none(held),
        expectancy=_mean_or_none(trade_pnls),
        sqn=_sqn(trade_returns),
        trading_days_per_year=trading_days,
        periods_per_year=periods,
    )


def trading_days_per_year(time: IntArray) -> Literal[252, 365]:
    return _trading_days_per_year(time, _DayRuns.of(time))


def periods_per_year(time: IntArray, trading_days: int) -> float:
    return _periods_per_year(time, _DayRuns.of(time), trading_days)


@dataclass(frozen=True, slots=True)
class _DayRuns:
    """The bars of each UTC day with bars: time is sorted, so each day is one run."""

    lengths: IntArray
    weekdays: IntArray  # 0 is Monday

    @classmethod
    def of(cls, time: IntArray) -> _DayRuns:
        # Searching for each midnight costs a few steps per day, not a pass over the bars.
        first_day, last_day = int(time[0]) // DAY_S, int(time[-1]) // DAY_S
        days = np.arange(first_day, last_day + 1, dtype=np.int64)
        bounds = np.searchsorted(time, np.append(days, last_day + 1) * DAY_S)
        lengths = np.diff(bounds)
        with_bars = lengths > 0
        weekdays = (days[with_bars] - _MONDAY_ORIGIN_S // DAY_S) % 7
        return cls(lengths=lengths[with_bars], weekdays=weekdays)


def _trading_days_per_year(time: IntArray, days: _DayRuns) -> Literal[252, 365]:
    weekend_bars = int(days.lengths[days.weekdays >= 5].sum())
    seven_day_week = weekend_bars >= _WEEKEND_SHARE_OF_A_7_DAY_MARKET * time.shape[0]
    return 365 if seven_day_week else 252


def _periods_per_year(time: IntArray, days: _DayRuns, trading_days: int) -> float:
    step = _median_step(time)
    if step >= 7 * DAY_S:
        return _WEEKLY_PERIODS
    if step >= DAY_S:
        return float(trading_days)
    return float(trading_days * np.median(days.lengths))


def _median_step(time: IntArray) -> int:
    """The median time between bars. Most series step evenly, and a step taken more
    often than not is the median: counting it is one quick pass, a sort is not."""
    at = (time.shape[0] - 1) // 2  # the middle of the n - 1 steps
    middle = int(time[at + 1] - time[at])
    if 2 * _steps_of(time, middle) > time.shape[0] - 1:
        return middle
    return int(np.median(np.diff(time)))


@compiled
def _steps_of(time: IntArray, step: int) -> int:
    """How many times `time` moves by exactly `step` from one bar to the next."""
    later, earlier = time[1:], time[:-1]
    count = 0
    for i in range(later.shape[0]):
        count += later[i] - earlier[i] == step
    return count


@dataclass(frozen=True, slots=True)
class _ReturnMoments:
    """Of the simple per-bar returns of an equity curve, taken while the equity before
    them is positive: their mean (0 without any), sample standard deviation (0 with
    fewer than two) and downside deviation, sqrt(mean(min(r, 0)^2)) (NaN without any)."""

    mean: float
    deviation: float
    downside: float

    @classmethod
    def of(cls, equity: FloatArray) -> _ReturnMoments:
        return cls(*_return_moments(equity))


@compiled
def _return_moments(equity: FloatArray) -> tuple[float, float, float]:
    """One pass, summing the returns shifted by the first one (so the sum of squares
    loses no precision to a large mean) without storing them. Each sum carries the
    rounding error of every addition (`compensated_add`), so a million bars sum as
    precisely as ten."""
    count, first = 0, 0.0
    shifted = shifted_low = squares = squares_low = downside = downside_low = 0.0
    for i in range(1, equity.shape[0]):
        if equity[i - 1] > 0:
            change = (equity[i] - equity[i - 1]) / equity[i - 1]
            if count == 0:
                first = change
            shifted, shifted_low = compensated_add(shifted, shifted_low, change - first)
            squares, squares_low = compensated_add(squares, squares_low, (change - first) ** 2)
            downside, downside_low = compensated_add(downside, downside_low, min(change, 0.0) ** 2)
            count += 1
    if count == 0:
        return 0.0, 0.0, np.nan
    shifted, squares, downside = (
        shifted + shifted_low,
        squares + squares_low,
        downside + downside_low,
    )
    mean = first + shifted / count
    variance = (squares - shifted**2 / count) / (count - 1) if count > 1 else 0.0
    return mean, np.sqrt(max(variance, 0.0)), np.sqrt(downside / count)


def _cagr(growth: float, duration_days: float) -> float:
    if growth <= 0:
        return -1.0
    if duration_days <= 0:
        return 0.0
    return float(growth ** (DAYS_PER_YEAR / duration_days) - 1)


def _ratio(mean: float, deviation: float, periods_per_year: float) -> float | None:
    if deviation == 0 or not np.isfinite(deviation):
        return None
    return float(mean / deviation * np.sqrt(periods_per_year))


def _mean_or_none(values: np.ndarray) -> float | None:
    return float(np.mean(values)) if values.size else None


def _profit_factor(pnls: FloatArray) -> float | None:
    gross_loss = -float(pnls[pnls < 0].sum())
    if gross_loss == 0:
        return None
    return float(pnls[pnls > 0].sum()) / gross_loss


def _sqn(trade_returns: FloatArray) -> float | None:
    if trade_returns.size < 2:
        return None
    deviation = float(np.std(trade_returns, ddof=1))
    if deviation == 0:
        return None
    return float(np.sqrt(trade_returns.size) * np.mean(trade_returns) / deviation)
