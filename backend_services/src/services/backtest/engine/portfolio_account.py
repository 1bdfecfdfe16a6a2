"""One account over several symbols whose shares are reset to their weights: the part
of a portfolio run that must walk every bar of every symbol in time order, compiled.

Each symbol trades its own trades (found on its own bars, `simulation.TradePlan`) from
its share of the account, a sub-account holding its cash and its position:
- A trade is sized as a single backtest sizes it, from its share's cash at the entry
  (the share is flat then); a trade its share cannot pay for is not made.
- Fills settle in time order: at each of a symbol's bars, an exit before an entry (a
  reversal), and an entry before an exit on the same bar (a stop reached on the bar of
  the entry's fill).
- A share whose equity at one of its closes is at or below zero has its position closed
  at the price where that equity is exactly zero (exit reason `liquidation`); the
  share trades again once a rebalance gives it cash.
- A symbol without a bar at a time keeps its last close (its position is valued at it)
  and cannot trade then.
- At the close of every rebalancing bar, each share is brought towards its weight of
  the account's equity by moving cash: a share above its weight gives what exceeds it,
  but at most its cash not tied in a position (a position is never resized, and no
  share borrows); the cash given is shared by the shares below their weights in
  proportion to what they lack.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from backend_services.services.backtest.engine.compiled import compiled
from backend_services.services.backtest.engine.indicators import BoolArray
from shared.contracts.strategies import Costs, Sizing
from shared.market_data.bars import FloatArray, IntArray

_SIZING_CODES: dict[Literal["fraction_of_equity", "fixed_cash", "fixed_units"], int] = {
    "fraction_of_equity": 0,
    "fixed_cash": 1,
    "fixed_units": 2,
}


@dataclass(frozen=True, slots=True)
class Bookings:
    """The symbols' bars and planned trades, each column joined over the symbols in
    their order; symbol s holds bars bar_start[s]..bar_start[s + 1] - 1 and trades
    trade_start[s]..trade_start[s + 1] - 1, whose bars index the joined bars."""

    union_bar: IntArray  # each bar's place on the portfolio's calendar
    close: FloatArray
    bar_start: IntArray
    trade_start: IntArray
    long: BoolArray
    entry_bar: IntArray
    exit_bar: IntArray
    entry_price: FloatArray  # slippage included
    exit_price: FloatArray


@dataclass(frozen=True, slots=True)
class SharedAccount:
    """What the account did: `equity` at every close of the calendar; `returns[s, t]`,
    the return of symbol s's share from the close before t (after any rebalance) to t;
    per trade: whether it was `made`, its `size`, `pnl`, `exit_bar` and `exit_price`
    (a liquidation changes both), and whether it was `liquidated`."""

    equity: FloatArray
    returns: FloatArray
    made: BoolArray
    size: FloatArray
    pnl: FloatArray
    exit_bar: IntArray
    exit_price: FloatArray
    liquidated: BoolArray
    rebalances: int


def run_shared_account(
    bookings: Bookings,
    calendar_bars: int,
    weights: FloatArray,
    initial_capital: float,
    rebalance_at: BoolArray,
    sizing: Sizing,
    costs: Costs,
) -> SharedAccount:
    """Settle every trade of every symbol in time order; see the module docstring."""
    return SharedAccount(
        *_settle(
            bookings.union_bar,
            bookings.close,
            bookings.bar_start,
            bookings.trade_start,
            bookings.long,
            bookings.entry_bar,
            bookings.exit_bar,
            bookings.entry_price,
            bookings.exit_price,
            calendar_bars,
            weights,
            initial_capital,
            rebalance_at,
            _SIZING_CODES[sizing.kind],
            float(sizing.value),
            costs.commission_pct,
            costs.fee_per_fill,
        )
    )


@compiled
def _units_for(
    kind: int, value: float, cash: float, price: float, commission: float, fee: float
) -> float:
    """Units a flat share with `cash` takes at `price`, as `simulation._sizes` sizes a
    trade: never more than the cash buys, costs included."""
    per_unit = price * (1 + commission)
    affordable = max(0.0, cash - fee) / per_unit
    if kind == 2:
        return min(value, affordable)
    budget = value * cash if kind == 0 else value
    return min(max(0.0, min(budget, cash) - fee) / per_unit, affordable)


@compiled
def _settle(
    union_bar: IntArray,
    close: FloatArray,
    bar_start: IntArray,
    trade_start: IntArray,
    long: BoolArray,
    entry_bar: IntArray,
    exit_bar: IntArray,
    entry_price: FloatArray,
    exit_price: FloatArray,
    calendar_bars: int,
    weights: FloatArray,
    initial_capital: float,
    rebalance_at: BoolArray,
    sizing_kind: int,
    sizing_value: float,
    commission: float,
    fee: float,
) -> tuple[
    FloatArray, FloatArray, BoolArray, FloatArray, FloatArray, IntArray, FloatArray, BoolArray, int
]:
    symbols = weights.shape[0]
    trades = entry_bar.shape[0]
    cash = weights * initial_capital
    units = np.zeros(symbols)  # negative for a short
    last_close = np.zeros(symbols)
    value_before = cash.copy()  # each share's value after the previous close
    next_bar = bar_start[:-1].copy()
    next_trade = trade_start[:-1].copy()
    equity = np.empty(calendar_bars)
    returns = np.zeros((symbols, calendar_bars))
    made = np.zeros(trades, dtype=np.bool_)
    size = np.zeros(trades)
    pnl = np.zeros(trades)
    final_exit_bar = exit_bar.copy()
    final_exit_price = exit_price.copy()
    liquidated = np.zeros(trades, dtype=np.bool_)
    values = np.empty(symbols)
    rebalances = 0
    for t in range(calendar_bars):
        for s in range(symbols):
            b = next_bar[s]
            if b == bar_start[s + 1] or union_bar[b] != t:
                continue
            next_bar[s] = b + 1
            last_close[s] = close[b]
            k = next_trade[s]
            while k < trade_start[s + 1]:
                if units[s] != 0.0:
                    if exit_bar[k] != b:
                        break
                    exit_cost = size[k] * exit_price[k] * commission + fee
                    entry_cost = size[k] * entry_price[k] * commission + fee
                    cash[s] += units[s] * exit_price[k] - exit_cost
                    pnl[k] = units[s] * (exit_price[k] - entry_price[k]) - entry_cost - exit_cost
                    units[s] = 0.0
                    k += 1
                    continue
                if entry_bar[k] != b:
                    break
                bought = _units_for(
                    sizing_kind, sizing_value, cash[s], entry_price[k], commission, fee
                )
                if bought > 0:
                    made[k], size[k] = True, bought
                    units[s] = bought if long[k] else -bought
                    cash[s] -= (
                        units[s] * entry_price[k] + bought * entry_price[k] * commission + fee
                    )
                else:
                    k += 1  # not made: its share has no cash for it
            next_trade[s] = k
            if units[s] != 0.0 and cash[s] + units[s] * close[b] <= 0:
                # Closed where closing leaves the share nothing.
                ruin = (fee - cash[s]) / (units[s] - abs(units[s]) * commission)
                exit_cost = size[k] * ruin * commission + fee
                entry_cost = size[k] * entry_price[k] * commission + fee
                cash[s] += units[s] * ruin - exit_cost
                pnl[k] = units[s] * (ruin - entry_price[k]) - entry_cost - exit_cost
                final_exit_bar[k], final_exit_price[k], liquidated[k] = b, ruin, True
                units[s] = 0.0
                next_trade[s] = k + 1
        total = 0.0
        for s in range(symbols):
            values[s] = cash[s] + units[s] * last_close[s]
            if t > 0 and value_before[s] > 0:
                returns[s, t] = (values[s] - value_before[s]) / value_before[s]
            total += values[s]
        equity[t] = total
        if rebalance_at[t] and total > 0:
            rebalances += 1
            given = lacking = 0.0
            for s in range(symbols):
                surplus = values[s] - weights[s] * total
                if surplus > 0:
                    give = min(surplus, max(0.0, min(cash[s], values[s])))
                    cash[s] -= give
                    values[s] -= give
                    given += give
                else:
                    lacking -= surplus
            if lacking > 0:
                for s in range(symbols):
                    want = weights[s] * total - values[s]
                    if want > 0:
                        share = given * want / lacking
                        cash[s] += share
                        values[s] += share
        value_before[:] = values
    return (
        equity,
        returns,
        made,
        size,
        pnl,
        final_exit_bar,
        final_exit_price,
        liquidated,
        rebalances,
    )
