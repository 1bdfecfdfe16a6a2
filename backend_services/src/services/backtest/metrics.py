"""All statistics of a backtest, computed in one place from the equity curve and trades.

Definitions (returns are simple per-bar returns of the equity curve, risk-free rate 0):
- periods_per_year: bars per year observed in the data, (n - 1) / years spanned, so a
  daily equity series annualises by about 252 and a 24/7 crypto one by 365;
- volatility: std(returns, ddof=1) * sqrt(periods_per_year);
- sharpe_ratio: mean(returns) / std(returns, ddof=1) * sqrt(periods_per_year);
- sortino_ratio: mean(returns) / sqrt(mean(min(returns, 0)^2)) * sqrt(periods_per_year);
- max_drawdown: min(equity / running peak - 1), a negative fraction or 0;
- max_drawdown_duration_bars: the most bars spent below an earlier peak;
- cagr: (final / initial) ^ (1 / years) - 1;
- exposure: the fraction of bars a position was held over;
- win_rate, best/worst/average_trade over trade returns; profit_factor is gross profit
  over gross loss; expectancy is the average pnl per trade in money.
"""

from __future__ import annotations

import numpy as np

from backend_services.contracts import BacktestStatistics
from backend_services.market_data.bars import Bars, FloatArray
from backend_services.services.backtest.simulation import Simulation

SECONDS_PER_YEAR = 365.25 * 86_400


def compute_statistics(
    bars: Bars, simulation: Simulation, initial_capital: float
) -> BacktestStatistics:
    """Statistics of a simulation over at least two bars."""
    equity = simulation.equity
    years = float(bars.time[-1] - bars.time[0]) / SECONDS_PER_YEAR
    periods_per_year = (len(bars) - 1) / years
    returns = np.diff(equity) / equity[:-1]
    trade_returns = np.array([t.return_fraction for t in simulation.trades])
    trade_pnls = np.array([t.pnl for t in simulation.trades])
    final_equity = float(equity[-1])
    return BacktestStatistics(
        final_equity=final_equity,
        total_return=final_equity / initial_capital - 1,
        buy_and_hold_return=float(bars.close[-1] / bars.close[0] - 1),
        cagr=(final_equity / initial_capital) ** (1 / years) - 1,
        volatility=_std(returns) * np.sqrt(periods_per_year),
        sharpe_ratio=_ratio(float(np.mean(returns)), _std(returns), periods_per_year),
        sortino_ratio=_ratio(
            float(np.mean(returns)),
            float(np.sqrt(np.mean(np.minimum(returns, 0.0) ** 2))),
            periods_per_year,
        ),
        max_drawdown=float(np.min(drawdown(equity))),
        max_drawdown_duration_bars=max_drawdown_duration(equity),
        exposure=float(np.mean(simulation.in_position)),
        total_trades=len(simulation.trades),
        win_rate=_mean_or_none(trade_pnls > 0),
        profit_factor=_profit_factor(trade_pnls),
        best_trade=float(trade_returns.max()) if trade_returns.size else None,
        worst_trade=float(trade_returns.min()) if trade_returns.size else None,
        average_trade=_mean_or_none(trade_returns),
        expectancy=_mean_or_none(trade_pnls),
        periods_per_year=periods_per_year,
    )


def drawdown(equity: FloatArray) -> FloatArray:
    """Fall from the running peak at every bar: 0 at a peak, negative below it."""
    result: FloatArray = equity / np.maximum.accumulate(equity) - 1
    return result


def max_drawdown_duration(equity: FloatArray) -> int:
    """The longest run of bars spent below an earlier peak."""
    bar = np.arange(equity.shape[0])
    at_peak = equity >= np.maximum.accumulate(equity)
    last_peak = np.maximum.accumulate(np.where(at_peak, bar, 0))
    return int(np.max(bar - last_peak))


def _std(values: FloatArray) -> float:
    return float(np.std(values, ddof=1)) if values.shape[0] > 1 else 0.0


def _ratio(mean: float, deviation: float, periods_per_year: float) -> float | None:
    if deviation == 0 or not np.isfinite(deviation):
        return None
    return float(mean / deviation * np.sqrt(periods_per_year))


def _mean_or_none(values: FloatArray | np.ndarray) -> float | None:
    return float(np.mean(values)) if values.size else None


def _profit_factor(pnls: FloatArray) -> float | None:
    gross_loss = -float(pnls[pnls < 0].sum())
    if gross_loss == 0:
        return None
    return float(pnls[pnls > 0].sum()) / gross_loss
