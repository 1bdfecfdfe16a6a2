"""The analysis beside a run's statistics, from the equity at every bar and the trades.

Definitions:
- a month's return: equity at its last bar over equity at the previous month's last
  bar (the initial capital for the first month), minus 1; a year's, the same at years'
  ends, which is its months' returns compounded;
- drawdown periods as in metrics.py (runs of bars below the running peak): `start` is
  the peak's bar, `trough` the deepest, `recovery` the first bar back at or above the
  peak (none for a period still open at the end); the WORST_DRAWDOWNS deepest are kept;
- the long / short / all split: metrics.py's trade statistics over each side's trades;
- rolling Sharpe: the annualised Sharpe ratio (as metrics.py's) of the per-bar returns
  of the last `window_bars` bars, a quarter of a year of bars (at least
  MIN_SHARPE_WINDOW, at most half the run), at no more than ROLLING_POINTS times. The
  bars are cut into blocks; each block's sums are its own (a flat stretch sums to
  exactly 0, not to the rounding left by a running sum), and a window is whole blocks.
"""

from __future__ import annotations

import math

import numpy as np

from backend_services.services.backtest.engine.compiled import compiled
from backend_services.services.backtest.engine.drawdowns import Drawdowns
from backend_services.services.backtest.engine.metrics import (
    annualised_ratio,
    mean_or_none,
    profit_factor_of,
)
from backend_services.services.backtest.engine.simulation import Simulation, TradeLog
from backend_services.services.backtest.engine.trade_extras import TradeExtras
from shared.contracts.analysis import (
    BacktestAnalysis,
    DrawdownPeriod,
    MonthlyReturn,
    RollingSharpe,
    SideSplit,
    SideStatistics,
    YearlyReturn,
)
from shared.market_data.bars import FloatArray, IntArray
from shared.timeframes import utc_datetime

WORST_DRAWDOWNS = 5
ROLLING_POINTS = 500
MIN_SHARPE_WINDOW = 10


def analyse(
    time: IntArray,
    simulation: Simulation,
    extras: TradeExtras,
    initial_capital: float,
    periods_per_year: float,
) -> BacktestAnalysis:
    """The analysis of a simulation over `time` (its bars' open times, epoch seconds);
    `extras` are its trades' (for the commission of each side)."""
    monthly, yearly = period_returns(time, simulation.equity, initial_capital)
    return BacktestAnalysis(
        monthly_returns=monthly,
        yearly_returns=yearly,
        worst_drawdowns=worst_drawdowns(time, simulation.drawdowns),
        sides=side_split(simulation.trades, extras),
        rolling_sharpe=rolling_sharpe(time, simulation.equity, periods_per_year),
    )


def period_returns(
    time: IntArray, equity: FloatArray, initial_capital: float
) -> tuple[list[MonthlyReturn], list[YearlyReturn]]:
    """The return of every month and year with bars, in order."""
    # Searching for each month's first second costs a few steps per month, not a pass
    # over the bars.
    first, last = (
        np.array([time[0], time[-1]], dtype="datetime64[s]").astype("datetime64[M]").tolist()
    )
    span = np.arange(np.datetime64(first, "M"), np.datetime64(last, "M") + 2, dtype="datetime64[M]")
    bounds = np.searchsorted(time, span.astype("datetime64[s]").astype(np.int64))
    with_bars = np.flatnonzero(np.diff(bounds) > 0)
    month_ends = bounds[with_bars + 1] - 1
    months = span[with_bars].astype(np.int64)  # months since 1970-01
    month_values = equity[month_ends]
    month_returns = _growth(initial_capital, month_values)
    years = months // 12
    year_ends = _last_of_runs(years)
    year_returns = _growth(initial_capital, month_values[year_ends])
    return (
        [
            MonthlyReturn(year=1970 + month // 12, month=month % 12 + 1, return_fraction=value)
            for month, value in zip(months.tolist(), month_returns, strict=True)
        ],
        [
            YearlyReturn(year=1970 + year, return_fraction=value)
            for year, value in zip(years[year_ends].tolist(), year_returns, strict=True)
        ],
    )


def _growth(initial_capital: float, values: FloatArray) -> list[float | None]:
    """Each value over the one before it (the first over the initial capital), minus
    1; None after a value of 0 (the equity was gone)."""
    before = np.append(initial_capital, values[:-1])
    with np.errstate(divide="ignore", invalid="ignore"):
        growth = values / before - 1
    return [
        float(g) if b > 0 else None for g, b in zip(growth.tolist(), before.tolist(), strict=True)
    ]


def _last_of_runs(keys: IntArray) -> IntArray:
    """The index of the last element of each run of equal (sorted) keys."""
    return np.append(np.flatnonzero(keys[1:] != keys[:-1]), keys.shape[0] - 1)


def worst_drawdowns(time: IntArray, drawdowns: Drawdowns) -> list[DrawdownPeriod]:
    """The WORST_DRAWDOWNS deepest periods below the peak, deepest first (the earlier of
    two as deep)."""
    deepest = np.argsort(drawdowns.depths, kind="stable")[:WORST_DRAWDOWNS]
    n = time.shape[0]
    periods = zip(
        drawdowns.depths[deepest].tolist(),
        drawdowns.lengths[deepest].tolist(),
        drawdowns.troughs[deepest].tolist(),
        drawdowns.ends[deepest].tolist(),
        strict=True,
    )
    return [
        DrawdownPeriod(
            # A period starting at the first bar fell from the initial capital.
            start=utc_datetime(int(time[max(end - length - 1, 0)])),
            trough=utc_datetime(int(time[trough])),
            recovery=utc_datetime(int(time[end])) if end < n else None,
            depth=depth,
            length_bars=length,
        )
        for depth, length, trough, end in periods
    ]


def side_split(trades: TradeLog, extras: TradeExtras) -> SideSplit:
    """The trade statistics of all trades, the long ones and the short ones."""
    every = np.ones(len(trades), dtype=bool)
    return SideSplit(
        all=_side(trades, extras, every),
        long=_side(trades, extras, trades.long),
        short=_side(trades, extras, ~trades.long),
    )


def _side(trades: TradeLog, extras: TradeExtras, chosen: np.ndarray) -> SideStatistics:
    pnls, returns = trades.pnl[chosen], trades.return_fraction[chosen]
    return SideStatistics(
        trades=int(pnls.size),
        win_rate=mean_or_none(pnls > 0),
        profit_factor=profit_factor_of(pnls),
        total_pnl=float(pnls.sum()),
        expectancy=mean_or_none(pnls),
        average_trade=mean_or_none(returns),
        best_trade=float(returns.max()) if returns.size else None,
        worst_trade=float(returns.min()) if returns.size else None,
        average_trade_duration_bars=mean_or_none(trades.bars_held[chosen]),
        commission=float(extras.commission[chosen].sum()),
    )


def rolling_sharpe(time: IntArray, equity: FloatArray, periods_per_year: float) -> RollingSharpe:
    """The Sharpe ratio of the window of bars ending at each block's last bar."""
    returns = equity.shape[0] - 1
    wanted = max(MIN_SHARPE_WINDOW, round(periods_per_year / 4))
    window = max(1, min(wanted, returns // 2))
    block = max(1, math.ceil(returns / ROLLING_POINTS))
    blocks_per_window = max(1, round(window / block))
    counts, sums, squares = _block_sums(equity, block)
    kernel = np.ones(blocks_per_window)
    count, total, square = (
        np.convolve(column, kernel, mode="valid") for column in (counts, sums, squares)
    )
    # Block k covers returns k*block .. (k+1)*block - 1, the last of them into bar
    # (k+1)*block (or the last bar).
    last_bars = np.minimum(
        np.arange(blocks_per_window, counts.shape[0] + 1) * block, equity.shape[0] - 1
    )
    sharpe: list[float | None] = []
    for n, s, q in zip(count.tolist(), total.tolist(), square.tolist(), strict=True):
        variance = (q - s * s / n) / (n - 1) if n > 1 else 0.0
        sharpe.append(
            annualised_ratio(s / n, math.sqrt(variance), periods_per_year) if variance > 0 else None
        )
    return RollingSharpe.model_validate(
        {
            "window_bars": blocks_per_window * block,
            "time": time[last_bars].tolist(),
            "sharpe": sharpe,
        }
    )


@compiled
def _block_sums(equity: FloatArray, block: int) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Per block of `block` per-bar returns (those after a positive equity): how many,
    their sum and their sum of squares."""
    returns = equity.shape[0] - 1
    blocks = (returns + block - 1) // block
    counts, sums, squares = np.zeros(blocks), np.zeros(blocks), np.zeros(blocks)
    for k in range(blocks):
        count = total = square = 0.0
        for i in range(k * block, min(returns, (k + 1) * block)):
            before = equity[i]
            if before > 0:
                change = (equity[i + 1] - before) / before
                count += 1.0
                total += change
                square += change * change
        counts[k], sums[k], squares[k] = count, total, square
    return counts, sums, squares
