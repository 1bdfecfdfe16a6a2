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
from typing import Any, Literal

import numpy as np

from backend_services.services.backtest.engine.compiled import compiled
from backend_services.services.backtest.engine.drawdowns import Drawdowns
from backend_services.services.backtest.engine.indicators import BoolArray
from backend_services.services.backtest.engine.trade_search import (
    EXIT_REASONS,
    LIQUIDATION,
    STOP_LOSS,
    TRAILING_STOP,
    Entries,
    Signals,
    Timeline,
)
from shared.contracts.results import ExitReason
from shared.contracts.strategies import Costs, Orders, Sizing
from shared.market_data.bars import Bars, FloatArray, IntArray

Side = Literal["long", "short"]
_DUST = 1e-9


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
class TradePlan:
    """Every trade the signals make, before any money: its side, fill bars and prices
    (slippage included in `entry_price` and `exit_price`, not in `raw_exit_price`).
    Indexed by trade; `timeline` holds their exit bars and reasons."""

    at_close: bool
    timeline: Timeline
    long: BoolArray
    adverse: FloatArray
    entry_bar: IntArray
    entry_price: FloatArray
    raw_exit_price: FloatArray
    exit_price: FloatArray

    @classmethod
    def of(cls, bars: Bars, signals: Signals, orders: Orders, costs: Costs) -> TradePlan:
        at_close = orders.fill == "close"
        entries = Entries.of(bars, signals, at_close, costs.slippage_pct)
        timeline = Timeline.of(bars, signals, entries, orders, at_close)
        taken = timeline.entry
        adverse = entries.adverse[taken]
        raw_exit_price = timeline.raw_exit_prices(bars)
        return cls(
            at_close=at_close,
            timeline=timeline,
            long=entries.long[taken],
            adverse=adverse,
            entry_bar=entries.bar[taken] + (0 if at_close else 1),
            entry_price=entries.fill_price[taken],
            raw_exit_price=raw_exit_price,
            exit_price=raw_exit_price * (1 - adverse),
        )


def simulate(
    bars: Bars, signals: Signals, initial_capital: float, orders: Orders, costs: Costs
) -> Simulation:
    """Trade the signals; see the module docstring for the rules."""
    plan = TradePlan.of(bars, signals, orders, costs)
    at_close, timeline = plan.at_close, plan.timeline
    long, adverse, entry_bar = plan.long, plan.adverse, plan.entry_bar
    entry_price, raw_exit_price, exit_price = plan.entry_price, plan.raw_exit_price, plan.exit_price
    size, cash_before = _sizes(entry_price, exit_price, long, initial_capital, orders.sizing, costs)
    # Once the account cannot pay for a trade, or is liquidated, no later one is made.
    made = size.shape[0]
    direction = np.where(long[:made], 1.0, -1.0)
    entry_cost = size * entry_price[:made] * costs.commission_pct + costs.fee_per_fill
    cash_in_trade = cash_before - direction * size * entry_price[:made] - entry_cost
    with np.errstate(divide="ignore", invalid="ignore"):
        # The fill price at which closing the position leaves the account nothing.
        ruin_fill = (costs.fee_per_fill - cash_in_trade) / (
            size * (direction - costs.commission_pct)
        )
    # A long bought with all the cash leaves rounding dust as its only margin: its ruin
    # price is then a tiny fraction of its entry, which no price reaches.
    ruin_fill[long[:made] & (ruin_fill < entry_price[:made] * _DUST)] = np.nan
    liquidated, liquidation_bar, liquidation_at_open = _first_liquidation(
        bars.open,
        bars.high,
        bars.low,
        long[:made],
        entry_bar[:made] + (1 if at_close else 0),
        timeline.exit_bar[:made],
        timeline.exit_at_open[:made],
        (timeline.exit_reason[:made] == STOP_LOSS) | (timeline.exit_reason[:made] == TRAILING_STOP),
        raw_exit_price[:made],
        ruin_fill / (1 - adverse[:made]),
    )
    if liquidated >= 0:
        made = liquidated + 1
    long, entry_bar, entry_price = long[:made], entry_bar[:made], entry_price[:made]
    size, cash_before, direction = size[:made], cash_before[:made], direction[:made]
    entry_cost, cash_in_trade = entry_cost[:made], cash_in_trade[:made]
    exit_price = exit_price[:made].copy()
    exit_bar = timeline.exit_bar[:made].copy()
    exit_at_open = timeline.exit_at_open[:made].copy()
    exit_reason = timeline.exit_reason[:made].copy()
    if liquidated >= 0:
        exit_bar[liquidated] = liquidation_bar
        exit_at_open[liquidated] = liquidation_at_open
        exit_reason[liquidated] = LIQUIDATION
        exit_price[liquidated] = (
            bars.open[liquidation_bar] * (1 - adverse[liquidated])
            if liquidation_at_open
            else ruin_fill[liquidated]
        )
    exit_cost = size * exit_price * costs.commission_pct + costs.fee_per_fill
    pnl = direction * size * (exit_price - entry_price) - entry_cost - exit_cost
    if liquidated >= 0:
        # The account ends at zero: what a gap took beyond it is not charged.
        pnl[liquidated] = -cash_before[liquidated]
    held_to = held_until(exit_bar, exit_at_open)
    trades = TradeLog(
        long=long,
        entry_bar=entry_bar,
        exit_bar=exit_bar,
        entry_price=entry_price,
        exit_price=exit_price,
        size=size,
        pnl=pnl,
        return_fraction=pnl / (size * entry_price + entry_cost),
        exit_reason=[EXIT_REASONS[code] for code in exit_reason.tolist()],
        bars_held=held_to - entry_bar - (1 if at_close else 0),
    )
    final_cash = float(cash_before[-1] + pnl[-1]) if made else initial_capital
    equity = _equity(
        bars.close, entry_bar, exit_bar, cash_before, cash_in_trade, direction * size, final_cash
    )
    in_position = held_bars(len(bars), entry_bar, held_to)
    return Simulation(equity=equity, in_position=in_position, trades=trades)


@compiled
def _first_liquidation(
    open_: FloatArray,
    high: FloatArray,
    low: FloatArray,
    long: BoolArray,
    first_bar_at_risk: IntArray,
    exit_bar: IntArray,
    exit_at_open: BoolArray,
    exit_at_stop: BoolArray,
    raw_exit_price: FloatArray,
    ruin_level: FloatArray,
) -> tuple[int, int, bool]:
    """The first trade whose price reaches its ruin level (where closing leaves the
    account nothing) before its exit: (trade, bar, whether at the bar's open), or
    (-1, -1, False). A bar opening beyond the level liquidates at the open; one reaching
    it within its range, at the level. On the exit bar, a position closed at the open
    sees only the open; one stopped out sees prices up to its stop (the stop is reached
    first unless it lies beyond the ruin level); one closed at a target or the close
    sees the whole bar (the worse price first, as for a stop and a target in one bar)."""
    for trade in range(long.shape[0]):
        level, is_long = ruin_level[trade], long[trade]
        first, last = first_bar_at_risk[trade], exit_bar[trade]
        if not level > 0:
            if is_long or first > last:  # a long that no fall in price can ruin
                continue
            return trade, first, True  # a short whose closing costs exceed its equity
        for bar in range(first, last + 1):
            if open_[bar] <= level if is_long else open_[bar] >= level:
                return trade, bar, True
            if bar == last and exit_at_open[trade]:
                break
            if bar == last and exit_at_stop[trade]:
                worst = raw_exit_price[trade]
            else:
                worst = low[bar] if is_long else high[bar]
            if worst <= level if is_long else worst >= level:
                return trade, bar, False
    return -1, -1, False


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


def held_until(exit_bar: IntArray, exit_at_open: BoolArray) -> IntArray:
    """The bar after each trade's last bar held: held through its exit bar, unless the
    exit filled at that bar's open."""
    held_to: IntArray = exit_bar + np.where(exit_at_open, 0, 1)
    return held_to


def held_bars(n: int, entry_bar: IntArray, held_to: IntArray) -> BoolArray:
    """True on the bars inside any trade's [entry_bar, held_to), built from the runs of
    bars between fills. A trade may end on the bar the next one begins (a reversal at a
    close): it is cut back to that bar first."""
    ends = np.minimum(held_to, np.append(entry_bar[1:], n))
    inside = np.zeros(2 * entry_bar.shape[0] + 1, dtype=bool)
    inside[1::2] = True
    bounds = np.empty(2 * entry_bar.shape[0] + 2, dtype=np.int64)
    bounds[0], bounds[-1] = 0, n
    bounds[1:-1:2], bounds[2:-1:2] = entry_bar, ends
    held: BoolArray = np.repeat(inside, np.diff(bounds))
    return held
