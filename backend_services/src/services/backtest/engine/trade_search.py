"""Finding the trades the signals make: each trade's entry, exit bar, exit reason and
raw exit price, before any money (sizes, costs and equity are `simulation`'s). This is
the part of the simulation that walks the bars, so its loop is compiled. The rules it
follows are in `simulation`'s docstring.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import get_args

import numpy as np
import numpy.typing as npt

from backend_services.services.backtest.engine.compiled import compiled
from backend_services.services.backtest.engine.indicators import BoolArray
from shared.contracts.results import ExitReason
from shared.contracts.strategies import Orders
from shared.market_data.bars import Bars, FloatArray, IntArray

EXIT_REASONS: tuple[ExitReason, ...] = get_args(ExitReason)
# Their positions in EXIT_REASONS: how the compiled search reports them (a liquidation
# is the simulation's finding, not the search's: it depends on the account).
_SIGNAL, STOP_LOSS, _TAKE_PROFIT, TRAILING_STOP, _END_OF_DATA, LIQUIDATION = range(6)


@dataclass(frozen=True, slots=True)
class Signals:
    """The bars on which each rule fires, in increasing order; a missing rule never does.
    Rules fire on few bars, so the trades are found from these without another pass
    over every bar."""

    long_entry: IntArray
    long_exit: IntArray
    short_entry: IntArray
    short_exit: IntArray


@dataclass(frozen=True, slots=True)
class Entries:
    """Every bar with an entry signal, in order, with the side it opens and the price
    it would fill at (slippage included)."""

    bar: IntArray
    long: BoolArray
    adverse: FloatArray  # slippage against the trader: a long buys higher, a short lower
    fill_price: FloatArray

    @classmethod
    def of(cls, bars: Bars, signals: Signals, at_close: bool, slippage: float) -> Entries:
        bar = _union(signals.long_entry, signals.short_entry)
        long = _members(bar, signals.long_entry)
        adverse = np.where(long, slippage, -slippage)
        # A signal on the last bar never fills at a next open; its price is never used.
        raw = bars.close[bar] if at_close else bars.open[np.minimum(bar + 1, len(bars) - 1)]
        return cls(bar=bar, long=long, adverse=adverse, fill_price=raw * (1 + adverse))


def _union(first: IntArray, second: IntArray) -> IntArray:
    """The bars in either of two increasing arrays of bars, in increasing order. (Rules
    fire on few bars, often one of the two is empty: np.union1d would hash both.)"""
    if second.size == 0 or first.size == 0:
        return first if second.size == 0 else second
    merged = np.sort(np.concatenate([first, second]))
    union: IntArray = merged[np.concatenate([[True], merged[1:] != merged[:-1]])]
    return union


def _members(bars: IntArray, of: IntArray) -> BoolArray:
    """Whether each of `bars` is in the increasing array `of`."""
    at = np.minimum(np.searchsorted(of, bars), max(of.size - 1, 0))
    found: BoolArray = of[at] == bars if of.size else np.zeros(bars.shape, dtype=bool)
    return found


@dataclass(frozen=True, slots=True)
class Timeline:
    """Each trade's bars and raw exit price, before any money: neither depends on the
    account, so the trades are found first and sized afterwards."""

    entry: IntArray  # index into Entries
    exit_bar: IntArray
    exit_price: FloatArray  # NaN: at the bar's open (exit_at_open) or close
    exit_reason: npt.NDArray[np.int8]  # index into EXIT_REASONS
    exit_at_open: BoolArray

    @classmethod
    def of(
        cls, bars: Bars, signals: Signals, entries: Entries, orders: Orders, at_close: bool
    ) -> Timeline:
        columns = _find_trades(
            entries.bar,
            entries.long,
            entries.fill_price,
            _union(signals.long_exit, signals.short_entry),
            _union(signals.short_exit, signals.long_entry),
            bars.open,
            bars.high,
            bars.low,
            0 if at_close else 1,
            orders.stop_loss_pct or 0.0,
            orders.take_profit_pct or 0.0,
            orders.trailing_stop_pct or 0.0,
        )
        return cls(*columns)

    def raw_exit_prices(self, bars: Bars) -> FloatArray:
        """Exit prices before slippage: a stop's or target's level, else the bar's open or
        close."""
        price = self.exit_price.copy()
        at_bar = np.isnan(price)
        bar = self.exit_bar[at_bar]
        at_open = self.exit_at_open[at_bar]
        price[at_bar] = np.where(at_open, bars.open[bar], bars.close[bar])
        return price


@compiled
def _find_trades(
    entry_bars: IntArray,
    entry_is_long: BoolArray,
    fill_prices: FloatArray,
    exits_of_long: IntArray,
    exits_of_short: IntArray,
    open_: FloatArray,
    high: FloatArray,
    low: FloatArray,
    lag: int,
    stop_loss: float,
    take_profit: float,
    trailing: float,
) -> tuple[IntArray, IntArray, FloatArray, npt.NDArray[np.int8], BoolArray]:
    """Every trade the signals make, in order, with stops and targets applied: the
    columns of a Timeline. `lag` is the bars from a signal to its fill (1 at the next
    open, 0 at the close); a stop, target or trailing fraction of 0 is none set."""
    capacity = entry_bars.shape[0]  # every trade takes a later entry signal than the last
    entry = np.empty(capacity, dtype=np.int64)
    exit_bar = np.empty(capacity, dtype=np.int64)
    exit_price = np.full(capacity, np.nan)
    exit_reason = np.empty(capacity, dtype=np.int8)
    exit_at_open = np.zeros(capacity, dtype=np.bool_)
    last = open_.shape[0] - 1
    stops = stop_loss > 0 or take_profit > 0 or trailing > 0
    count = search_from = 0
    while True:
        taken = np.searchsorted(entry_bars, search_from)
        if taken == capacity or entry_bars[taken] + lag > last:
            break
        signal = entry_bars[taken]
        exits = exits_of_long if entry_is_long[taken] else exits_of_short
        at = np.searchsorted(exits, signal, side="right")
        fill = exits[at] + lag if at < exits.shape[0] and exits[at] + lag <= last else -1
        entry[count] = taken
        if stops:
            # Bars in which a stop or target can trigger: after the entry fill, before
            # the signal's fill (at an open, the signal fills first; at a close, the stop
            # came first).
            end = last + 1 if fill < 0 else fill + 1 - lag
            bar, price, reason = _stop_or_target(
                open_,
                high,
                low,
                entry_is_long[taken],
                signal + 1,
                end,
                fill_prices[taken],
                stop_loss,
                take_profit,
                trailing,
            )
            if bar >= 0:
                exit_bar[count], exit_price[count], exit_reason[count] = bar, price, reason
                count += 1
                # The bar of the exit's own close may signal the next entry.
                search_from = bar
                continue
        if fill < 0:
            exit_bar[count], exit_reason[count] = last, _END_OF_DATA
            count += 1
            break
        exit_bar[count], exit_reason[count], exit_at_open[count] = fill, _SIGNAL, lag == 1
        count += 1
        # The exit signal may open the other side at the same fill.
        search_from = fill - lag
    return (
        entry[:count],
        exit_bar[:count],
        exit_price[:count],
        exit_reason[:count],
        exit_at_open[:count],
    )


@compiled
def _stop_or_target(
    open_: FloatArray,
    high: FloatArray,
    low: FloatArray,
    long: bool,
    first: int,
    end: int,
    entry_price: float,
    stop_loss: float,
    take_profit: float,
    trailing: float,
) -> tuple[int, float, int]:
    """The first stop or target reached in bars first..end-1, as (bar, price before
    slippage, exit reason code), or bar -1 if none is."""
    sign = 1.0 if long else -1.0
    never = -np.inf if long else np.inf
    fixed = entry_price * (1 - sign * stop_loss) if stop_loss > 0 else never
    target = entry_price * (1 + sign * take_profit)
    extreme = entry_price  # the highest high (lowest low) since entry, up to the bar before
    for bar in range(first, end):
        stop, trailing_binds = fixed, False
        if trailing > 0:
            trail = extreme * (1 - sign * trailing)
            trailing_binds = trail > fixed if long else trail < fixed
            stop = max(fixed, trail) if long else min(fixed, trail)
        if (low[bar] <= stop) if long else (high[bar] >= stop):
            price = min(open_[bar], stop) if long else max(open_[bar], stop)
            return bar, price, TRAILING_STOP if trailing_binds else STOP_LOSS
        if take_profit > 0 and ((high[bar] >= target) if long else (low[bar] <= target)):
            price = max(open_[bar], target) if long else min(open_[bar], target)
            return bar, price, _TAKE_PROFIT
        extreme = max(extreme, high[bar]) if long else min(extreme, low[bar])
    return -1, np.nan, _SIGNAL
