"""What a trade table shows of each trade beyond its fills: how long it lasted, its
size in money, the commission it paid, and how far the price ran for and against it
while it was open (maximum favourable and adverse excursion).

The prices a trade saw: its entry and exit fills, and the high and low of every bar it
was held through (as the simulation counts them, `bars_held` from the first bar after
its fill) - except its exit bar when it left within that bar (a stop, a target, a
liquidation): the order of prices inside a bar is unknown, so of that bar only the exit
price counts. Run-up and drawdown are fractions of the entry fill, in the trade's
favour (0 or more) and against it (0 or less)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np

from backend_services.services.backtest.engine.compiled import compiled
from backend_services.services.backtest.engine.indicators import BoolArray
from backend_services.services.backtest.engine.simulation import TradeLog
from shared.contracts.strategies import Costs
from shared.market_data.bars import Bars, FloatArray, IntArray

# Exits at the close of their exit bar, which the trade was then held through.
_AT_CLOSE_REASONS = frozenset({"end_of_data"})


@dataclass(frozen=True, slots=True)
class TradeExtras:
    """Columns with one value per trade of a TradeLog, named as Trade's fields."""

    duration_seconds: IntArray
    notional: FloatArray
    commission: FloatArray
    run_up: FloatArray
    drawdown: FloatArray

    @classmethod
    def of(cls, bars: Bars, trades: TradeLog, costs: Costs, fill_at_close: bool) -> TradeExtras:
        """The columns of `trades`, made on `bars` with `costs`; `fill_at_close` as the
        orders' `fill == "close"`."""
        at_close = _AT_CLOSE_REASONS | ({"signal"} if fill_at_close else set())
        exit_at_close = np.array([reason in at_close for reason in trades.exit_reason], bool)
        run_up, drawdown = _excursions(
            bars.high,
            bars.low,
            trades.long,
            trades.entry_bar + (1 if fill_at_close else 0),
            trades.bars_held,
            trades.exit_bar,
            exit_at_close,
            trades.entry_price,
            trades.exit_price,
        )
        traded = trades.size * (trades.entry_price + trades.exit_price)
        return cls(
            duration_seconds=bars.time[trades.exit_bar] - bars.time[trades.entry_bar],
            notional=trades.size * trades.entry_price,
            commission=traded * costs.commission_pct + 2 * costs.fee_per_fill,
            run_up=run_up,
            drawdown=drawdown,
        )

    @classmethod
    def joined(cls, parts: Sequence[TradeExtras], order: IntArray) -> TradeExtras:
        """The trades of `parts` one after another, then taken in `order`."""
        return cls(
            **{
                column.name: np.concatenate([getattr(part, column.name) for part in parts])[order]
                for column in fields(cls)
            }
        )

    def columns(self, rows: slice) -> dict[str, np.ndarray]:
        """Rows `rows` of every column, by name."""
        return {column.name: getattr(self, column.name)[rows] for column in fields(self)}


@compiled
def _excursions(
    high: FloatArray,
    low: FloatArray,
    long: BoolArray,
    first_bar: IntArray,
    bars_held: IntArray,
    exit_bar: IntArray,
    exit_at_close: BoolArray,
    entry_price: FloatArray,
    exit_price: FloatArray,
) -> tuple[FloatArray, FloatArray]:
    """Run-up and drawdown of every trade; see the module docstring."""
    count = long.shape[0]
    run_up, drawdown = np.empty(count), np.empty(count)
    for trade in range(count):
        top = max(entry_price[trade], exit_price[trade])
        bottom = min(entry_price[trade], exit_price[trade])
        first, stop = first_bar[trade], first_bar[trade] + bars_held[trade]
        if not exit_at_close[trade]:
            stop = min(stop, exit_bar[trade])
        if stop > first:
            top = max(top, high[first:stop].max())
            bottom = min(bottom, low[first:stop].min())
        entry = entry_price[trade]
        if long[trade]:
            run_up[trade], drawdown[trade] = top / entry - 1.0, bottom / entry - 1.0
        else:
            run_up[trade], drawdown[trade] = 1.0 - bottom / entry, 1.0 - top / entry
    return run_up, drawdown
