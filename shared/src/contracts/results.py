"""A finished backtest: its statistics, trades and curves."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal, Self

import numpy as np
from pydantic import ConfigDict, Field, TypeAdapter, model_validator

from shared.contracts.analysis import BacktestAnalysis
from shared.contracts.common import Count, Id, Symbol, WireModel
from shared.contracts.portfolios import PortfolioResult
from shared.timeframes import Timeframe

__all__ = [
    "BacktestResult",
    "BacktestStatistics",
    "EquityCurve",
    "ExitReason",
    "Trade",
    "TradePage",
    "trades_from_columns",
]


# Why a position closed; `liquidation`: its loss took the account's equity to zero.
ExitReason = Literal[
    "signal", "stop_loss", "take_profit", "trailing_stop", "end_of_data", "liquidation"
]


class Trade(WireModel):
    side: Literal["long", "short"]
    entry_time: datetime
    exit_time: datetime
    entry_price: float
    exit_price: float
    size: float = Field(description="Units held.")
    pnl: float = Field(description="Profit in money, after costs.")
    return_fraction: float = Field(description="pnl divided by the money put in at entry.")
    exit_reason: ExitReason
    bars_held: Count
    # Null in trades stored before they were part of one.
    duration_seconds: Count | None = Field(default=None, description="Exit time - entry time.")
    notional: float | None = Field(default=None, description="Size times entry price, in money.")
    commission: float | None = Field(default=None, description="Commission and fees paid.")
    run_up: float | None = Field(
        default=None,
        description="Best price seen while open, as a fraction of the entry price in the "
        "trade's favour (maximum favourable excursion, 0 or more).",
    )
    drawdown: float | None = Field(
        default=None,
        description="Worst price seen while open, as a fraction of the entry price against "
        "the trade (maximum adverse excursion, 0 or less).",
    )
    symbol: Symbol | None = Field(default=None, description="A portfolio's trade's symbol.")


_TRADE_LIST = TypeAdapter(list[Trade])
_FIELDS_AFTER_SIDE = tuple(name for name in Trade.model_fields if name != "side")


def trades_from_columns(columns: Mapping[str, Any]) -> list[Trade]:
    """Trades from columns named as Trade's fields, `side` given as `long` (booleans) and
    the times as epoch seconds, validated as one list: pydantic's core checks a list of
    plain dicts several times faster than it builds the models one by one, and turns
    epoch seconds into UTC datetimes five times faster than Python does. Optional fields
    may be left out of `columns`."""
    sides = ["long" if long else "short" for long in np.asarray(columns["long"]).tolist()]
    names = [name for name in _FIELDS_AFTER_SIDE if name in columns]
    values = [
        columns[name] if isinstance(columns[name], list) else np.asarray(columns[name]).tolist()
        for name in names
    ]
    rows = [
        {"side": side, **dict(zip(names, row, strict=True))}
        for side, *row in zip(sides, *values, strict=True)
    ]
    return _TRADE_LIST.validate_python(rows)


class TradePage(WireModel):
    """Trades offset .. offset + len(trades) - 1 of a completed backtest's `total`."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "total": 33,
                    "offset": 0,
                    "trades": [
                        {
                            "side": "long",
                            "entry_time": "2005-03-02T00:00:00Z",
                            "exit_time": "2005-04-19T00:00:00Z",
                            "entry_price": 93.85,
                            "exit_price": 102.1,
                            "size": 106.45,
                            "pnl": 856.1,
                            "return_fraction": 0.0857,
                            "exit_reason": "signal",
                            "bars_held": 33,
                        }
                    ],
                }
            ]
        }
    )

    total: Count
    offset: Count
    trades: list[Trade]


class EquityCurve(WireModel):
    """Curves at chosen bars' closes, as columns of equal length: compact on the wire and
    in MongoDB, and quick to validate. `equity` is the account value, `drawdown` its fall
    from the running peak (0 or negative), `buy_and_hold` what the initial capital put in
    the asset at the first close would be worth."""

    time: list[datetime]
    equity: list[float]
    # Empty in results stored before these curves were part of one.
    drawdown: list[float] = Field(default_factory=list)
    buy_and_hold: list[float] = Field(default_factory=list)

    @model_validator(mode="after")
    def _columns_match(self) -> Self:
        lengths = {len(self.time), len(self.equity)}
        lengths |= {len(column) for column in (self.drawdown, self.buy_and_hold) if column}
        if len(lengths) > 1:
            raise ValueError("time, equity, drawdown and buy_and_hold must have the same length")
        return self


class BacktestStatistics(WireModel):
    """The numbers of one backtest, defined in services/backtest/metrics.py. Fractions,
    not percents. Ratios that are undefined for a run (a Sharpe ratio without variance,
    a profit factor without a losing trade) are null rather than infinite. Statistics
    added since the first release (those with a default) are null in results stored
    before them.
    """

    duration_days: float | None = Field(
        default=None, description="From the first bar's open time to the last's."
    )
    final_equity: float
    equity_peak: float | None = None
    total_return: float
    buy_and_hold_return: float
    cagr: float
    volatility: float = Field(description="Annualised standard deviation of bar returns.")
    sharpe_ratio: float | None
    sortino_ratio: float | None
    calmar_ratio: float | None = None
    max_drawdown: float = Field(le=0, description="Deepest fall from a peak, negative.")
    average_drawdown: float | None = Field(
        default=None, le=0, description="Average depth of the drawdowns."
    )
    max_drawdown_duration_bars: Count
    average_drawdown_duration_bars: float | None = None
    exposure: float = Field(description="Fraction of bars with a position open.")
    total_trades: Count
    win_rate: float | None
    profit_factor: float | None
    best_trade: float | None
    worst_trade: float | None
    average_trade: float | None
    max_trade_duration_bars: Count | None = None
    average_trade_duration_bars: float | None = None
    expectancy: float | None = Field(description="Average pnl per trade, in money.")
    sqn: float | None = Field(default=None, description="System quality number.")
    kelly_criterion: float | None = Field(
        default=None,
        description="win_rate - (1 - win_rate) / (average win / average loss), in money.",
    )
    alpha: float | None = Field(
        default=None,
        description="total_return - beta * buy_and_hold_return: the return the asset's "
        "moves do not explain.",
    )
    beta: float | None = Field(
        default=None,
        description="How the per-bar returns move with the asset's: cov / var of the asset.",
    )
    trading_days_per_year: Literal[252, 365] | None = Field(
        default=None,
        description="365 when a fifth of the bars or more fall on weekends (a market "
        "that never closes), else 252.",
    )
    periods_per_year: float = Field(description="Bars per year used to annualise.")


class BacktestResult(BacktestStatistics):
    """A finished backtest: what ran, its statistics, its trades and equity curve."""

    strategy_id: Id
    symbol: Symbol
    timeframe: Timeframe
    start: datetime
    end: datetime
    bars: Count
    initial_capital: float
    trades: list[Trade] = Field(
        description="The first 1,000 trades; total_trades says how many there are, and "
        "all of them are read in pages from the backtest's trades endpoint."
    )
    equity_curve: EquityCurve
    analysis: BacktestAnalysis | None = Field(
        default=None, description="Null in results stored before it was part of one."
    )
    data_version: int | None = Field(default=None, description="Market-data version used.")
    cached: bool = Field(
        default=False,
        description="True when this is the stored result of an identical earlier backtest "
        "(same strategy, parameters and market-data version), not computed again.",
    )
    portfolio: PortfolioResult | None = Field(
        default=None, description="A portfolio's contributions and correlations."
    )

    def statistics(self) -> BacktestStatistics:
        """Its statistics alone, without trades, curves or analysis."""
        return BacktestStatistics.model_validate(
            self.model_dump(include=set(BacktestStatistics.model_fields))
        )
