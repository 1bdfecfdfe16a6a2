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

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal, get_args

import numpy as np
import numpy.typing as npt

from backend_services.contracts import Costs, Orders, Sizing
from backend_services.market_data.bars import Bars, FloatArray, IntArray
from backend_services.services.backtest.compiled import compiled
from backend_services.services.backtest.indicators import BoolArray
from backend_services.services.backtest.metrics import Drawdowns

Side = Literal["long", "short"]
ExitReason = Literal["signal", "stop_loss", "take_profit", "trailing_stop", "end_of_data"]
EXIT_REASONS: tuple[ExitReason, ...] = get_args(ExitReason)
# Their positions in EXIT_REASONS: how the compiled trade search reports them.
_SIGNAL, _STOP_LOSS, _TAKE_PROFIT, _TRAILING_STOP, _END_OF_DATA = range(5)


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
class TradeLog:
    """The closed trades in order, as columns with one value per trade: statistics read
    the columns, and a trade becomes an object only when one is asked for."""

    long: BoolArray
    entry_bar: IntArray
    exit_bar: IntArray
    entry_price: FloatArray
    exit_price: FloatArray
    size: FloatArray
    pnl: FloatArray
    return_fraction: FloatArray
    exit_reason: list[ExitReason]
    bars_held: IntArray

    @classmethod
    def of(cls, trades: list[SimulatedTrade]) -> TradeLog:
        def column(name: str, dtype: type[Any]) -> np.ndarray[Any, Any]:
            return np.array([getattr(trade, name) for trade in trades], dtype=dtype)

        return cls(
            long=np.array([trade.side == "long" for trade in trades], dtype=bool),
            entry_bar=column("entry_bar", np.int64),
            exit_bar=column("exit_bar", np.int64),
            entry_price=column("entry_price", np.float64),
            exit_price=column("exit_price", np.float64),
            size=column("size", np.float64),
            pnl=column("pnl", np.float64),
            return_fraction=column("return_fraction", np.float64),
            exit_reason=[trade.exit_reason for trade in trades],
            bars_held=column("bars_held", np.int64),
        )

    def __len__(self) -> int:
        return len(self.exit_reason)

    def __getitem__(self, index: int) -> SimulatedTrade:
        return SimulatedTrade(
            side="long" if self.long[index] else "short",
            entry_bar=int(self.entry_bar[index]),
            exit_bar=int(self.exit_bar[index]),
            entry_price=float(self.entry_price[index]),
            exit_price=float(self.exit_price[index]),
            size=float(self.size[index]),
            pnl=float(self.pnl[index]),
            return_fraction=float(self.return_fraction[index]),
            exit_reason=self.exit_reason[index],
            bars_held=int(self.bars_held[index]),
        )

    def __iter__(self) -> Iterator[SimulatedTrade]:
        return (self[index] for index in range(len(self)))


@dataclass(frozen=True)
class Simulation:
    """`equity` (float64, shape (n,)) is the account value at each bar's close;
    `in_position` (bool, shape (n,)) tells whether a position was held at that close or
    during the bar."""

    equity: FloatArray
    in_position: BoolArray
    trades: TradeLog

    @cached_property
    def drawdowns(self) -> Drawdowns:
        """The equity's falls from its running peak, computed once for the statistics
        and the curves."""
        return Drawdowns.of(self.equity)


@dataclass(frozen=True, slots=True)
class _Entries:
    """Every bar with an entry signal, in order, with the side it opens and the price
    it would fill at (slippage included)."""

    bar: IntArray
    long: BoolArray
    adverse: FloatArray  # slippage against the trader: a long buys higher, a short lower
    fill_price: FloatArray

    @classmethod
    def of(cls, bars: Bars, signals: Signals, at_close: bool, slippage: float) -> _Entries:
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
class _Timeline:
    """Each trade's bars and raw exit price, before any money: neither depends on the
    account, so the trades are found first and sized afterwards."""

    entry: IntArray  # index into _Entries
    exit_bar: IntArray
    exit_price: FloatArray  # NaN: at the bar's open (exit_at_open) or close
    exit_reason: npt.NDArray[np.int8]  # index into EXIT_REASONS
    exit_at_open: BoolArray

    @classmethod
    def of(
        cls, bars: Bars, signals: Signals, entries: _Entries, orders: Orders, at_close: bool
    ) -> _Timeline:
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


def simulate(
    bars: Bars, signals: Signals, initial_capital: float, orders: Orders, costs: Costs
) -> Simulation:
    """Trade the signals; see the module docstring for the rules."""
    at_close = orders.fill == "close"
    entries = _Entries.of(bars, signals, at_close, costs.slippage_pct)
    timeline = _Timeline.of(bars, signals, entries, orders, at_close)
    taken = timeline.entry
    entry_bar = entries.bar[taken] + (0 if at_close else 1)
    long = entries.long[taken]
    entry_price = entries.fill_price[taken]
    exit_price = _raw_exit_prices(bars, timeline) * (1 - entries.adverse[taken])
    size, cash_before = _sizes(entry_price, exit_price, long, initial_capital, orders.sizing, costs)
    made = size.shape[0]  # once the account cannot pay for a trade, no later one is made
    long, entry_bar, entry_price, exit_price = (
        long[:made],
        entry_bar[:made],
        entry_price[:made],
        exit_price[:made],
    )
    exit_bar = timeline.exit_bar[:made]
    exit_at_open = timeline.exit_at_open[:made]
    direction = np.where(long, 1.0, -1.0)
    entry_cost = size * entry_price * costs.commission_pct + costs.fee_per_fill
    exit_cost = size * exit_price * costs.commission_pct + costs.fee_per_fill
    pnl = direction * size * (exit_price - entry_price) - entry_cost - exit_cost
    # Held through the exit bar, unless the exit filled at its open.
    held_to = exit_bar + np.where(exit_at_open, 0, 1)
    trades = TradeLog(
        long=long,
        entry_bar=entry_bar,
        exit_bar=exit_bar,
        entry_price=entry_price,
        exit_price=exit_price,
        size=size,
        pnl=pnl,
        return_fraction=pnl / (size * entry_price + entry_cost),
        exit_reason=[EXIT_REASONS[code] for code in timeline.exit_reason[:made].tolist()],
        bars_held=held_to - entry_bar - (1 if at_close else 0),
    )
    cash_in_trade = cash_before - direction * size * entry_price - entry_cost
    final_cash = float(cash_before[-1] + pnl[-1]) if made else initial_capital
    equity = _equity(
        bars.close, entry_bar, exit_bar, cash_before, cash_in_trade, direction * size, final_cash
    )
    in_position = _held(len(bars), entry_bar, held_to)
    return Simulation(equity=equity, in_position=in_position, trades=trades)


def _raw_exit_prices(bars: Bars, timeline: _Timeline) -> FloatArray:
    """Exit prices before slippage: a stop's or target's level, else the bar's open or
    close."""
    price = timeline.exit_price.copy()
    at_bar = np.isnan(price)
    bar = timeline.exit_bar[at_bar]
    at_open = timeline.exit_at_open[at_bar]
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
    columns of a _Timeline. `lag` is the bars from a signal to its fill (1 at the next
    open, 0 at the close); a cost of 0 means none is set."""
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
            return bar, price, _TRAILING_STOP if trailing_binds else _STOP_LOSS
        if take_profit > 0 and ((high[bar] >= target) if long else (low[bar] <= target)):
            price = max(open_[bar], target) if long else min(open_[bar], target)
            return bar, price, _TAKE_PROFIT
        extreme = max(extreme, high[bar]) if long else min(extreme, low[bar])
    return -1, np.nan, _SIGNAL


def _sizes(
    entry_price: FloatArray,
    exit_price: FloatArray,
    long: BoolArray,
    initial_capital: float,
    sizing: Sizing,
    costs: Costs,
) -> tuple[FloatArray, FloatArray]:
    """Units of each trade and the cash before it, for as long as the account can pay
    for a trade. Whether it can depends on the cash alone, which does not change while
    flat: the first trade it cannot pay for is the end of trading.

    Units: a fixed number, or what a fraction of the equity or a fixed amount of cash
    buys; never more than the equity buys, fees and commission included."""
    commission, fee = costs.commission_pct, costs.fee_per_fill
    kind, value = sizing.kind, sizing.value
    if kind == "fraction_of_equity" and fee == 0:
        return _compounding_sizes(entry_price, exit_price, long, initial_capital, value, commission)
    sizes: list[float] = []
    cash_before: list[float] = []
    cash = initial_capital
    trades = zip(entry_price.tolist(), exit_price.tolist(), long.tolist(), strict=True)
    for entry, exit_, is_long in trades:
        per_unit = entry * (1 + commission)
        affordable = max(0.0, cash - fee) / per_unit
        if kind == "fixed_units":
            size = min(value, affordable)
        else:
            budget = value * cash if kind == "fraction_of_equity" else value
            size = min(max(0.0, min(budget, cash) - fee) / per_unit, affordable)
        if size <= 0:
            break
        sizes.append(size)
        cash_before.append(cash)
        direction = 1.0 if is_long else -1.0
        entry_cost = size * entry * commission + fee
        exit_cost = size * exit_ * commission + fee
        cash += direction * size * (exit_ - entry) - entry_cost - exit_cost
    return np.array(sizes, dtype=np.float64), np.array(cash_before, dtype=np.float64)


def _compounding_sizes(
    entry_price: FloatArray,
    exit_price: FloatArray,
    long: BoolArray,
    initial_capital: float,
    fraction: float,
    commission: float,
) -> tuple[FloatArray, FloatArray]:
    """`_sizes` for a fraction of equity without a fixed fee, in one pass: each trade
    then multiplies the cash by a factor its prices fix, so the cash before every trade
    is a cumulative product. Trading ends before the first trade without cash."""
    per_unit = entry_price * (1 + commission)
    direction = np.where(long, 1.0, -1.0)
    gain_per_unit = direction * (exit_price - entry_price) - (entry_price + exit_price) * commission
    growth = 1 + fraction * gain_per_unit / per_unit
    cash_before = initial_capital * np.cumprod(np.concatenate([[1.0], growth[:-1]]))
    broke = np.flatnonzero(cash_before <= 0)
    cash_before = cash_before[: broke[0]] if broke.size else cash_before
    return fraction * cash_before / per_unit[: cash_before.shape[0]], cash_before


@compiled
def _equity(
    close: FloatArray,
    entry_bar: IntArray,
    exit_bar: IntArray,
    cash_before: FloatArray,
    cash_in_trade: FloatArray,
    units: FloatArray,
    final_cash: float,
) -> FloatArray:
    """Cash plus the position's value at every close, in one pass over the runs of bars
    between fills: flat before each trade, held from its entry to its exit bar (whose
    close is after the exit), flat after the last. `units` is negative for a short."""
    equity = np.empty(close.shape[0])
    flat_from = 0
    for trade in range(entry_bar.shape[0]):
        equity[flat_from : entry_bar[trade]] = cash_before[trade]
        # A loop over views, indexed from 0, compiles to vector code.
        held = equity[entry_bar[trade] : exit_bar[trade]]
        prices = close[entry_bar[trade] : exit_bar[trade]]
        cash, held_units = cash_in_trade[trade], units[trade]
        for bar in range(held.shape[0]):
            held[bar] = cash + held_units * prices[bar]
        flat_from = exit_bar[trade]
    equity[flat_from:] = final_cash
    return equity


def _held(n: int, entry_bar: IntArray, held_to: IntArray) -> BoolArray:
    """True on the bars inside any trade's [entry_bar, held_to). A trade may end on the
    bar the next one begins (a reversal at a close): it is cut back to that bar first."""
    ends = np.minimum(held_to, np.append(entry_bar[1:], n))
    inside = np.zeros(2 * entry_bar.shape[0] + 1, dtype=bool)
    inside[1::2] = True
    held: BoolArray = np.repeat(inside, _alternating_runs(n, entry_bar, ends))
    return held


def _alternating_runs(n: int, starts: IntArray, ends: IntArray) -> IntArray:
    """Lengths of the runs before starts[0], from each start to its end, from each end to
    the next start, and from the last end to n; starts and ends interleave in order."""
    bounds = np.empty(2 * starts.shape[0] + 2, dtype=np.int64)
    bounds[0], bounds[-1] = 0, n
    bounds[1:-1:2], bounds[2:-1:2] = starts, ends
    return np.diff(bounds)
