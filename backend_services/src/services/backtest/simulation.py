"""Turning entry and exit signals into fills, trades and an equity curve.

Semantics, the same everywhere in the product:
- a signal is computed on a bar's close and filled at the next bar's open, so no
  decision ever sees a price it could not have known; a signal on the last bar is not
  filled;
- an entry puts all equity into the position (fractional units), an exit sells it all;
- every fill pays `commission_pct` of its traded value;
- a position still open after the last bar is closed at that bar's close, with exit
  reason `end_of_data`, so every run ends flat and its trades add up to its return.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from backend_services.market_data.bars import Bars, FloatArray
from backend_services.services.backtest.indicators import BoolArray

ExitReason = Literal["signal", "end_of_data"]


@dataclass(frozen=True, slots=True)
class SimulatedTrade:
    """A closed long trade; bars are indices into the simulated Bars."""

    entry_bar: int
    exit_bar: int
    entry_price: float
    exit_price: float
    size: float
    pnl: float
    return_fraction: float
    exit_reason: ExitReason

    @property
    def bars_held(self) -> int:
        return self.exit_bar - self.entry_bar + (1 if self.exit_reason == "end_of_data" else 0)


@dataclass(frozen=True, slots=True)
class Simulation:
    """`equity` (float64, shape (n,)) is the account value at each bar's close;
    `in_position` (bool, shape (n,)) tells whether a position was held over the bar."""

    equity: FloatArray
    in_position: BoolArray
    trades: list[SimulatedTrade]


def simulate_long_only(
    bars: Bars,
    entries: BoolArray,
    exits: BoolArray,
    initial_capital: float,
    commission_pct: float,
) -> Simulation:
    """Trade one long position from the signals; see the module docstring for the rules."""
    n = len(bars)
    equity = np.empty(n, dtype=np.float64)
    in_position = np.zeros(n, dtype=bool)
    trades: list[SimulatedTrade] = []
    cash = initial_capital
    flat_since = 0
    entry_bar = -1
    size = 0.0
    # Only bars with a signal can change the state; a signal on the last bar has no fill.
    for signal_bar in np.flatnonzero((entries | exits)[: n - 1]).tolist():
        fill_bar = signal_bar + 1
        if entry_bar < 0 and entries[signal_bar]:
            equity[flat_since:fill_bar] = cash
            entry_bar = fill_bar
            size = cash / (bars.open[fill_bar] * (1 + commission_pct))
        elif entry_bar >= 0 and exits[signal_bar]:
            trade = _close(
                bars, entry_bar, fill_bar, bars.open[fill_bar], size, cash, commission_pct, "signal"
            )
            equity[entry_bar:fill_bar] = size * bars.close[entry_bar:fill_bar]
            in_position[entry_bar:fill_bar] = True
            cash += trade.pnl
            trades.append(trade)
            flat_since, entry_bar = fill_bar, -1
    if entry_bar >= 0:
        last = n - 1
        trade = _close(
            bars, entry_bar, last, bars.close[last], size, cash, commission_pct, "end_of_data"
        )
        equity[entry_bar:last] = size * bars.close[entry_bar:last]
        in_position[entry_bar:] = True
        cash += trade.pnl
        trades.append(trade)
        flat_since = last
    equity[flat_since:] = cash
    return Simulation(equity=equity, in_position=in_position, trades=trades)


def _close(
    bars: Bars,
    entry_bar: int,
    exit_bar: int,
    exit_price: float,
    size: float,
    invested: float,
    commission_pct: float,
    reason: ExitReason,
) -> SimulatedTrade:
    proceeds = size * exit_price * (1 - commission_pct)
    pnl = proceeds - invested
    return SimulatedTrade(
        entry_bar=entry_bar,
        exit_bar=exit_bar,
        entry_price=float(bars.open[entry_bar]),
        exit_price=float(exit_price),
        size=size,
        pnl=pnl,
        return_fraction=pnl / invested,
        exit_reason=reason,
    )
