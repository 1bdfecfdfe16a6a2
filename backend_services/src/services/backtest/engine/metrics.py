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
  drawdown period is a run of consecutive bars below the running peak (the peak and the
  bar back at or above it are not in it; a run still open at the end is one); its
  duration is the number of those bars: max_drawdown_duration_bars is the longest;
  average_drawdown and average_drawdown_duration_bars average the deepest point and the
  duration of the periods;
- exposure: the fraction of bars a position was held over;
- win_rate: the fraction of trades with pnl > 0; best/worst/average_trade over trade
  returns; max/average_trade_duration_bars over bars held; profit_factor: gross profit
  over gross loss; expectancy: average pnl per trade in money;
- sqn: sqrt(trades) * mean(trade returns) / std(trade returns, ddof=1), Van Tharp's
  system quality number;
- kelly_criterion: win_rate - (1 - win_rate) / (average winning pnl / average losing
  pnl, as a positive number), the fraction of equity the Kelly formula would stake;
- beta: cov(returns, asset returns) / var(asset returns), with the asset's simple
  per-bar returns (its close) over the same bars as the returns; alpha: total_return -
  beta * buy_and_hold_return, Jensen's alpha over the whole run (risk-free rate 0).
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
    bars: Bars,
    simulation: Simulation,
    initial_capital: float,
    calendar: Calendar | None = None,
    against_the_asset: bool = True,
) -> BacktestStatistics:
    """Statistics of a simulation over at least two bars; pass the bars' `calendar` when
    computing many on the same bars. Without `against_the_asset`, alpha and beta are
    left out (None), and their share of the work with them: a sweep ranks by other
    statistics and computes them for its best combination only."""
    equity = simulation.equity
    duration_days = float(bars.time[-1] - bars.time[0]) / DAY_S
    calendar = calendar or Calendar.of(bars.time)
    trading_days, periods = calendar.trading_days_per_year, calendar.periods_per_year
    returns = _ReturnMoments.of(equity, bars.close if against_the_asset else None)
    trade_returns = simulation.trades.return_fraction
    trade_pnls = simulation.trades.pnl
    held = simulation.trades.bars_held
    final_equity = float(equity[-1])
    cagr = _cagr(final_equity / initial_capital, duration_days)
    drawdowns = simulation.drawdowns
    depths, lengths = drawdowns.depths, drawdowns.lengths
    max_drawdown = float(depths.min()) if depths.size else 0.0
    total_return = final_equity / initial_capital - 1
    buy_and_hold_return = float(bars.close[-1] / bars.close[0] - 1)
    beta = float(returns.beta) if np.isfinite(returns.beta) else None
    return BacktestStatistics(
        duration_days=duration_days,
        final_equity=final_equity,
        equity_peak=float(np.max(equity)),
        total_return=total_return,
        buy_and_hold_return=buy_and_hold_return,
        beta=beta,
        alpha=total_return - beta * buy_and_hold_return if beta is not None else None,
        cagr=cagr,
        volatility=returns.deviation * np.sqrt(periods),
        sharpe_ratio=annualised_ratio(returns.mean, returns.deviation, periods),
        sortino_ratio=annualised_ratio(returns.mean, returns.downside, periods),
        calmar_ratio=cagr / -max_drawdown if max_drawdown < 0 else None,
        max_drawdown=max_drawdown,
        average_drawdown=float(np.mean(depths)) if depths.size else 0.0,
        max_drawdown_duration_bars=int(np.max(lengths)) if lengths.size else 0,
        average_drawdown_duration_bars=float(np.mean(lengths)) if lengths.size else 0.0,
        exposure=np.count_nonzero(simulation.in_position) / equity.shape[0],
        total_trades=len(simulation.trades),
        win_rate=mean_or_none(trade_pnls > 0),
        profit_factor=profit_factor_of(trade_pnls),
        best_trade=float(trade_returns.max()) if trade_returns.size else None,
        worst_trade=float(trade_returns.min()) if trade_returns.size else None,
        average_trade=mean_or_none(trade_returns),
        max_trade_duration_bars=int(held.max()) if held.size else None,
        average_trade_duration_bars=mean_or_none(held),
        expectancy=mean_or_none(trade_pnls),
        sqn=_sqn(trade_returns),
        kelly_criterion=_kelly(trade_pnls),
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
    fewer than two) and downside deviation, sqrt(mean(min(r, 0)^2)) (NaN without any);
    and `beta`, their covariance with the asset's returns over the same bars divided by
    the variance of those (NaN when the asset's returns do not vary)."""

    mean: float
    deviation: float
    downside: float
    beta: float

    @classmethod
    def of(cls, equity: FloatArray, close: FloatArray | None) -> _ReturnMoments:
        """`close` None: no beta (NaN), and a pass that does not read the asset at all."""
        return cls(*_return_moments(equity, close))


_SUM_BLOCK = 256


@compiled
def _return_moments(
    equity: FloatArray, close: FloatArray | None
) -> tuple[float, float, float, float]:
    """One pass, without storing the returns. The sums are of returns shifted by the
    first ones (so squares and products lose no precision to a large mean), added
    plainly within blocks of bars and the blocks' sums added with their rounding errors
    kept (`compensated_add`): a million bars sum as precisely as a few hundred. The
    asset's returns are divided a block at a time into a small scratch array: a loop of
    divisions alone vectorises, one inside the summing loop does not, and a whole array
    of them would cost a million-bar allocation."""
    start = 1
    while start < equity.shape[0] and not equity[start - 1] > 0:
        start += 1
    if start >= equity.shape[0]:
        return 0.0, 0.0, np.nan, np.nan
    first = (equity[start] - equity[start - 1]) / equity[start - 1]
    first_asset = close[start] / close[start - 1] - 1.0 if close is not None else 0.0
    count = 0
    totals = np.zeros(6)
    lows = np.zeros(6)
    asset_returns = np.zeros(_SUM_BLOCK)
    for block in range(start, equity.shape[0], _SUM_BLOCK):
        stop = min(equity.shape[0], block + _SUM_BLOCK)
        if close is not None:
            later, earlier = close[block:stop], close[block - 1 : stop - 1]
            for j in range(stop - block):
                asset_returns[j] = later[j] / earlier[j] - 1.0
        own_sum = own_squares = losses = asset_sum = asset_squares = cross = 0.0
        for i in range(block, stop):
            before = equity[i - 1]
            if before > 0:
                change = (equity[i] - before) / before
                own = change - first
                own_sum += own
                own_squares += own * own
                loss = min(change, 0.0)
                losses += loss * loss
                count += 1
                # numba compiles a version for close None without these lines.
                if close is not None:
                    market = asset_returns[i - block] - first_asset
                    asset_sum += market
                    asset_squares += market * market
                    cross += own * market
        partials = (own_sum, own_squares, losses, asset_sum, asset_squares, cross)
        for k in range(6):
            totals[k], lows[k] = compensated_add(totals[k], lows[k], partials[k])
    shifted, squares, downside, market, market_squares, cross_total = totals + lows
    mean = first + shifted / count
    variance = (squares - shifted**2 / count) / (count - 1) if count > 1 else 0.0
    market_variance = market_squares - market**2 / count
    covariance = cross_total - shifted * market / count
    beta = covariance / market_variance if market_variance > 0 else np.nan
    return mean, np.sqrt(max(variance, 0.0)), np.sqrt(downside / count), beta


def _cagr(growth: float, duration_days: float) -> float:
    if growth <= 0:
        return -1.0
    if duration_days <= 0:
        return 0.0
    return float(growth ** (DAYS_PER_YEAR / duration_days) - 1)


def annualised_ratio(mean: float, deviation: float, periods_per_year: float) -> float | None:
    """mean / deviation, annualised; None where the deviation is 0 or undefined."""
    if deviation == 0 or not np.isfinite(deviation):
        return None
    return float(mean / deviation * np.sqrt(periods_per_year))


def mean_or_none(values: np.ndarray) -> float | None:
    """The mean; None without any value."""
    return float(np.mean(values)) if values.size else None


def profit_factor_of(pnls: FloatArray) -> float | None:
    """Gross profit over gross loss; None without a loss."""
    gross_loss = -float(pnls[pnls < 0].sum())
    if gross_loss == 0:
        return None
    return float(pnls[pnls > 0].sum()) / gross_loss


def _kelly(pnls: FloatArray) -> float | None:
    wins, losses = pnls[pnls > 0], pnls[pnls < 0]
    if not (wins.size and losses.size):
        return None
    win_rate = wins.size / pnls.size
    return float(win_rate - (1 - win_rate) / (wins.mean() / -losses.mean()))


def _sqn(trade_returns: FloatArray) -> float | None:
    if trade_returns.size < 2:
        return None
    deviation = float(np.std(trade_returns, ddof=1))
    if deviation == 0:
        return None
    return float(np.sqrt(trade_returns.size) * np.mean(trade_returns) / deviation)
