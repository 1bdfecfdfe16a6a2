"""The analysis of a finished backtest a trader reads beside its statistics: returns by
month and year, the worst drawdown periods, the statistics of long and short trades
apart, and a rolling Sharpe ratio. Computed by the engine from the equity at every bar
(the stored curve is thinned), so that it is exact; defined in
services/backtest/engine/analysis.py."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field

from shared.contracts.common import Count, WireModel

__all__ = [
    "BacktestAnalysis",
    "DrawdownPeriod",
    "MonthlyReturn",
    "RollingSharpe",
    "SideSplit",
    "SideStatistics",
    "YearlyReturn",
]


class MonthlyReturn(WireModel):
    year: int
    month: Annotated[int, Field(ge=1, le=12)]
    return_fraction: float | None = Field(
        description="Equity at the month's last bar over equity at the previous month's "
        "(the initial capital for the first month), minus 1; null once the equity is gone."
    )


class YearlyReturn(WireModel):
    year: int
    return_fraction: float | None = Field(
        description="The year's monthly returns compounded; null once the equity is gone."
    )


class DrawdownPeriod(WireModel):
    start: datetime = Field(description="The peak the equity fell from.")
    trough: datetime = Field(description="The deepest point.")
    recovery: datetime | None = Field(
        description="The first bar back at or above the peak; null when it never was."
    )
    depth: float = Field(le=0, description="The fall from the peak at the trough.")
    length_bars: Count = Field(description="Bars spent below the peak.")


class SideStatistics(WireModel):
    """The statistics of a set of trades, defined as the run's (metrics.py)."""

    trades: Count
    win_rate: float | None
    profit_factor: float | None
    total_pnl: float = Field(description="In money, after costs.")
    expectancy: float | None = Field(description="Average pnl per trade, in money.")
    average_trade: float | None = Field(description="Average trade return.")
    best_trade: float | None
    worst_trade: float | None
    average_trade_duration_bars: float | None
    commission: float = Field(description="Commission and fees paid, in money.")


class SideSplit(WireModel):
    all: SideStatistics
    long: SideStatistics
    short: SideStatistics


class RollingSharpe(WireModel):
    """The annualised Sharpe ratio of the last `window_bars` bars at each time, null
    where it is undefined (no variance)."""

    window_bars: Count
    time: list[datetime]
    sharpe: list[float | None]


class BacktestAnalysis(WireModel):
    monthly_returns: list[MonthlyReturn]
    yearly_returns: list[YearlyReturn]
    worst_drawdowns: list[DrawdownPeriod] = Field(description="The five deepest, deepest first.")
    sides: SideSplit
    rolling_sharpe: RollingSharpe
