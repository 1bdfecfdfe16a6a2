"""Turning entry and exit signals into fills, trades and an equity curve.

Semantics, the same everywhere in the product:
- Signals are computed on a bar's close. With `fill="next_open"` (the default) they
  fill at the next bar's open, so no decision sees a price it could not have known; a
  signal on the last bar is not filled. With `fill="close"` they fill at that close.
- One position at a time. Flat, a long entry signal opens a long (it wins over a short
  entry on the same bar), a short entry signal a short. A long closes on a long exit
  signal or a short entry signal (which then opens the short at the same fill), a short
  likewise. Entry signals in the direction already held are ignored.
- Size: a fraction of equity, a fixed amount of cash (at most the equity), or a fixed
  number of units (at most what the equity buys), fractional units allowed. A short is
  sized like a long of the same value; its proceeds are held as cash.
- Costs on every fill: `commission_pct` of the traded value plus `fee_per_fill`.
  Slippage moves every fill price against the trader by `slippage_pct` (buys higher,
  sells lower), stop and target fills included.
- Stops and targets are fractions of the entry fill price, checked inside every bar the
  position is held after its fill, against the bar's high and low. A trailing stop sits
  `trailing_stop_pct` below the highest high (above the lowest low, for a short) seen
  since entry, the entry price included, up to the bar before. A bar that opens beyond a
  stop or target fills at its open (a gap); a bar reaching both the stop and the target
  is taken to reach the stop first. A long's binding stop is the higher of the fixed
  and trailing ones, a short's the lower.
- A position still open after the last bar is closed at its close, exit reason
  `end_of_data`, so every run ends flat and its trades add up to its return.
- Equity at every bar's close is cash plus the position's value at that close.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Literal

import numpy as np

from backend_services.contracts import Costs, Orders
from backend_services.market_data.bars import Bars, FloatArray
from backend_services.services.backtest.indicators import BoolArray

Side = Literal["long", "short"]
ExitReason = Literal["signal", "stop_loss", "take_profit", "trailing_stop", "end_of_data"]


@dataclass(frozen=True, slots=True)
class Signals:
    """One boolean per bar for each rule; a missing rule never fires."""

    long_entry: BoolArray
    long_exit: BoolArray
    short_entry: BoolArray
    short_exit: BoolArray


@dataclass(frozen=True, slots=True)
class SimulatedTrade:
    """A closed trade; bars are indices into the simulated Bars (the bars of its fills)."""

    side: Side
    entry_bar: int
    exit_bar: int
    entry_price: float
    exit_price: float
    size: float
    pnl: float
    return_fraction: float
    exit_reason: ExitReason
    bars_held: int


@dataclass(frozen=True, slots=True)
class Simulation:
    """`equity` (float64, shape (n,)) is the account value at each bar's close;
    `in_position` (bool, shape (n,)) tells whether a position was held at that close or
    during the bar."""

    equity: FloatArray
    in_position: BoolArray
    trades: list[SimulatedTrade]


@dataclass(frozen=True, slots=True)
class _Exit:
    bar: int
    price: float  # before slippage
    reason: ExitReason
    at_open: bool  # filled at the bar's open: the position was not held during the bar


def simulate(
    bars: Bars, signals: Signals, initial_capital: float, orders: Orders, costs: Costs
) -> Simulation:
    """Trade the signals; see the module docstring for the rules."""
    n = len(bars)
    at_close = orders.fill == "close"
    equity = np.empty(n, dtype=np.float64)
    in_position = np.zeros(n, dtype=bool)
    trades: list[SimulatedTrade] = []
    # Bar numbers of the signals, as lists: bisect on a list is far cheaper per trade
    # than numpy's searchsorted on an array.
    entries = np.flatnonzero(signals.long_entry | signals.short_entry).tolist()
    exits_of: dict[Side, list[int]] = {
        "long": np.flatnonzero(signals.long_exit | signals.short_entry).tolist(),
        "short": np.flatnonzero(signals.short_exit | signals.long_entry).tolist(),
    }
    last_signal = n - 1 if at_close else n - 2  # the last bar whose signal can fill
    cash, flat_from, search_from = initial_capital, 0, 0
    while True:
        signal = _first_at_or_after(entries, search_from)
        if signal is None or signal > last_signal:
            break
        side: Side = "long" if signals.long_entry[signal] else "short"
        entry_bar = signal if at_close else signal + 1
        price = bars.close[signal] if at_close else bars.open[entry_bar]
        entry_price = _slipped(price, side, buying=True, costs=costs)
        size = _size(orders, cash, entry_price, costs)
        if size <= 0:  # nothing left to trade with
            search_from = signal + 1
            continue
        equity[flat_from:entry_bar] = cash
        direction = 1.0 if side == "long" else -1.0
        entry_cost = size * entry_price * costs.commission_pct + costs.fee_per_fill
        cash_in_trade = cash - direction * size * entry_price - entry_cost
        exit_signal = _first_at_or_after(exits_of[side], signal + 1)
        exit_ = _exit(bars, side, entry_bar, at_close, entry_price, exit_signal, orders)
        exit_price = _slipped(exit_.price, side, buying=False, costs=costs)
        exit_cost = size * exit_price * costs.commission_pct + costs.fee_per_fill
        held = slice(entry_bar, exit_.bar)
        equity[held] = cash_in_trade + direction * size * bars.close[held]
        in_position[entry_bar : exit_.bar + (0 if exit_.at_open else 1)] = True
        pnl = direction * size * (exit_price - entry_price) - entry_cost - exit_cost
        trades.append(
            SimulatedTrade(
                side=side,
                entry_bar=entry_bar,
                exit_bar=exit_.bar,
                entry_price=float(entry_price),
                exit_price=float(exit_price),
                size=float(size),
                pnl=float(pnl),
                return_fraction=float(pnl / (size * entry_price + entry_cost)),
                exit_reason=exit_.reason,
                bars_held=exit_.bar - entry_bar + (0 if exit_.at_open or at_close else 1),
            )
        )
        cash += pnl
        flat_from = exit_.bar
        # A signal exit may open the other side at the same fill; after a stop or target,
        # the bar of the exit's own close may signal the next entry.
        search_from = exit_.bar if exit_signal is None or exit_.reason != "signal" else exit_signal
        if exit_.reason == "end_of_data":
            break
    equity[flat_from:] = cash
    return Simulation(equity=equity, in_position=in_position, trades=trades)


def _exit(
    bars: Bars,
    side: Side,
    entry_bar: int,
    at_close: bool,
    entry_price: float,
    exit_signal: int | None,
    orders: Orders,
) -> _Exit:
    """Where and why the position opened at `entry_bar` closes."""
    last = len(bars) - 1
    signal_fill = None
    if exit_signal is not None:
        signal_fill = exit_signal if at_close else exit_signal + 1
        if signal_fill > last:
            signal_fill = None
    # Bars in which a stop or target can trigger: after the entry fill, before the
    # signal fill (at an open, the signal fills first; at a close, the stop came first).
    first = entry_bar + 1 if at_close else entry_bar
    end = last + 1 if signal_fill is None else (signal_fill + 1 if at_close else signal_fill)
    triggered = _stop_or_target(bars, side, first, end, entry_price, orders)
    if triggered is not None:
        return triggered
    if signal_fill is not None:
        price = bars.close[signal_fill] if at_close else bars.open[signal_fill]
        return _Exit(signal_fill, float(price), "signal", at_open=not at_close)
    return _Exit(last, float(bars.close[last]), "end_of_data", at_open=False)


def _stop_or_target(
    bars: Bars, side: Side, first: int, end: int, entry_price: float, orders: Orders
) -> _Exit | None:
    if end <= first or not (
        orders.stop_loss_pct or orders.take_profit_pct or orders.trailing_stop_pct
    ):
        return None
    window = slice(first, end)
    high, low, open_ = bars.high[window], bars.low[window], bars.open[window]
    long = side == "long"
    sign = 1.0 if long else -1.0
    stop = np.full(end - first, -np.inf if long else np.inf)
    fixed_stop = trailing = None
    if orders.stop_loss_pct:
        fixed_stop = entry_price * (1 - sign * orders.stop_loss_pct)
        stop[:] = fixed_stop
    if orders.trailing_stop_pct:
        extreme = np.empty(end - first)
        extreme[0] = entry_price
        if long:
            extreme[1:] = np.maximum(entry_price, np.maximum.accumulate(high[:-1]))
            trailing = extreme * (1 - orders.trailing_stop_pct)
            stop = np.maximum(stop, trailing)
        else:
            extreme[1:] = np.minimum(entry_price, np.minimum.accumulate(low[:-1]))
            trailing = extreme * (1 + orders.trailing_stop_pct)
            stop = np.minimum(stop, trailing)
    stopped = (low <= stop) if long else (high >= stop)
    target_hit = np.zeros(end - first, dtype=bool)
    target = 0.0
    if orders.take_profit_pct:
        target = entry_price * (1 + sign * orders.take_profit_pct)
        target_hit = (high >= target) if long else (low <= target)
    hits = np.flatnonzero(stopped | target_hit)
    if hits.size == 0:
        return None
    at = int(hits[0])
    bar = first + at
    if stopped[at]:
        level = float(stop[at])
        price = min(open_[at], level) if long else max(open_[at], level)
        binding_is_trailing = trailing is not None and (
            fixed_stop is None or (trailing[at] > fixed_stop if long else trailing[at] < fixed_stop)
        )
        reason: ExitReason = "trailing_stop" if binding_is_trailing else "stop_loss"
        return _Exit(bar, float(price), reason, at_open=False)
    price = max(open_[at], target) if long else min(open_[at], target)
    return _Exit(bar, float(price), "take_profit", at_open=False)


def _size(orders: Orders, cash: float, price: float, costs: Costs) -> float:
    """Units for an entry at `price` with `cash` of equity."""
    affordable = max(0.0, cash - costs.fee_per_fill) / (price * (1 + costs.commission_pct))
    sizing = orders.sizing
    if sizing.kind == "fixed_units":
        return min(sizing.value, affordable)
    budget = sizing.value * cash if sizing.kind == "fraction_of_equity" else sizing.value
    units = max(0.0, min(budget, cash) - costs.fee_per_fill) / (price * (1 + costs.commission_pct))
    return min(units, affordable)


def _slipped(price: float, side: Side, buying: bool, costs: Costs) -> float:
    """The fill price after slippage; `buying` is True for the entry of a long and the
    exit of a short."""
    buys = buying == (side == "long")
    return float(price * (1 + costs.slippage_pct if buys else 1 - costs.slippage_pct))


def _first_at_or_after(bars: list[int], start: int) -> int | None:
    index = bisect.bisect_left(bars, start)
    return bars[index] if index < len(bars) else None
