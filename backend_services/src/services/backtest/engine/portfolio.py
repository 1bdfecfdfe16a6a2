"""One strategy's rules over a basket of symbols with one account.

- The rules are evaluated on each symbol's own bars, exactly as a single backtest of
  that symbol evaluates them, and its trades are found on those bars.
- The portfolio's calendar is the union of the symbols' bar times. A symbol without a
  bar at a time keeps its last close (its position is valued at it; before its first
  bar its share is cash) and cannot trade then: no fill ever happens off its own bars.
- The account's equity is split into one share per symbol by weight (equal, or fixed).
  Without rebalancing each share is exactly a single backtest of its symbol with the
  weight times the initial capital, so a one-symbol portfolio is the single backtest.
  With rebalancing every N bars, days or weeks, the shares are reset towards their
  weights by moving cash between them (`portfolio_account`), so each symbol's next
  position is sized from its weight of the shared equity.
- Statistics are the single backtest's, computed from the account's equity on the
  calendar; buy-and-hold is the basket bought at the weights (a symbol held as cash
  until its first bar), and beta is against it. Each symbol's contribution is the pnl
  of its trades (they add up to the account's), and the correlation matrix is of the
  per-bar returns of the symbols' shares.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from backend_services.services.backtest.engine.compiled import compiled
from backend_services.services.backtest.engine.indicators import BoolArray
from backend_services.services.backtest.engine.metrics import compute_statistics
from backend_services.services.backtest.engine.portfolio_account import (
    Bookings,
    SharedAccount,
    run_shared_account,
)
from backend_services.services.backtest.engine.portfolio_calendar import (
    aligned,
    rebalance_bars,
    union_calendar,
)
from backend_services.services.backtest.engine.run import (
    ProgressCallback,
    check_enough_bars,
    equity_curves,
    signals_of,
)
from backend_services.services.backtest.engine.simulation import (
    Simulation,
    TradeLog,
    TradePlan,
    held_bars,
    held_until,
    simulate,
)
from backend_services.services.backtest.engine.trade_search import EXIT_REASONS, LIQUIDATION
from backend_services.services.backtest.engine.trade_table import TradeTable
from shared.contracts.backtests import ResolvedBacktest
from shared.contracts.portfolios import (
    Portfolio,
    PortfolioResult,
    SymbolContribution,
)
from shared.contracts.results import BacktestResult
from shared.market_data.bars import Bars, FloatArray, IntArray
from shared.timeframes import utc_datetime


@dataclass(frozen=True, slots=True)
class PortfolioTradeTable(TradeTable):
    """Every trade of the basket, ordered by entry time (then by symbol), each tagged
    with its symbol: `symbol[k]` indexes `symbols`."""

    symbols: tuple[str, ...]
    symbol: IntArray

    def columns(self, start: int, stop: int) -> dict[str, Any]:
        names = self.symbols
        return TradeTable.columns(self, start, stop) | {
            "symbol": [names[code] for code in self.symbol[start:stop].tolist()]
        }


@dataclass(frozen=True, slots=True)
class PortfolioRun:
    result: BacktestResult
    trades: PortfolioTradeTable


@dataclass(frozen=True, slots=True)
class _Member:
    symbol: str
    bars: Bars
    weight: float
    calendar_index: IntArray  # each own bar's place on the calendar
    last_bar: IntArray  # at each calendar time, the last own bar up to it (-1: none yet)


def run_portfolio(
    members: Sequence[tuple[str, Bars]],
    backtest: ResolvedBacktest,
    portfolio: Portfolio,
    strategy_id: str,
    data_versions: Sequence[int | None] = (),
    on_progress: ProgressCallback = lambda fraction: None,
) -> PortfolioRun:
    """The basket's run: `members` are the symbols' bars in the order of
    `portfolio.symbols`; see the module docstring for the rules."""
    for symbol, bars in members:
        check_enough_bars(bars, backtest.model_copy(update={"symbol": symbol}))
    time = union_calendar([bars.time for _, bars in members])
    weights = portfolio.resolved_weights()
    sleeves = [
        _Member(symbol, bars, weight, *aligned(bars.time, time))
        for (symbol, bars), weight in zip(members, weights, strict=True)
    ]
    if portfolio.rebalance == "never":
        shares = _separate_shares(sleeves, time, backtest, on_progress)
    else:
        rebalance_at = rebalance_bars(time, portfolio.rebalance)
        shares = _shared_account(sleeves, time, rebalance_at, backtest, on_progress)
    equity, returns, logs = shares.equity, shares.returns, shares.logs
    in_position = np.zeros(time.shape[0], dtype=bool)
    for member, log in zip(sleeves, logs, strict=True):
        held = held_bars(len(member.bars), log.entry_bar, _held_to(log, backtest))
        in_position |= _on_calendar(member, held, False) & (time <= member.bars.time[-1])
    trades = _merged(sleeves, logs, time)
    simulation = Simulation(equity=equity, in_position=in_position, trades=trades.log)
    basket = _basket(sleeves, time)
    statistics = compute_statistics(basket, simulation, backtest.initial_capital)
    on_progress(0.9)
    versions = list(data_versions) or [None] * len(sleeves)
    result = BacktestResult(
        strategy_id=strategy_id,
        symbol=sleeves[0].symbol,
        timeframe=backtest.timeframe,
        start=utc_datetime(int(time[0])),
        end=utc_datetime(int(time[-1])),
        bars=time.shape[0],
        initial_capital=backtest.initial_capital,
        trades=trades.models(),
        equity_curve=equity_curves(basket, simulation, backtest.initial_capital),
        portfolio=PortfolioResult(
            weighting=portfolio.weighting,
            rebalance=portfolio.rebalance,
            rebalances=shares.rebalances,
            symbols=[
                SymbolContribution(
                    symbol=member.symbol,
                    weight=member.weight,
                    bars=len(member.bars),
                    trades=len(log),
                    pnl=float(log.pnl.sum()),
                    return_contribution=float(log.pnl.sum()) / backtest.initial_capital,
                    data_version=version,
                )
                for member, log, version in zip(sleeves, logs, versions, strict=True)
            ],
            correlation=_correlation(returns),
        ),
        **statistics.model_dump(),
    )
    return PortfolioRun(result, trades)


@dataclass(frozen=True, slots=True)
class _Shares:
    """The account on the calendar: its equity, each share's per-bar returns (one row
    per symbol) and trades (on its own bars), and the rebalances made."""

    equity: FloatArray
    returns: FloatArray
    logs: list[TradeLog]
    rebalances: int


def _separate_shares(
    members: Sequence[_Member],
    time: IntArray,
    backtest: ResolvedBacktest,
    on_progress: ProgressCallback,
) -> _Shares:
    """Never rebalanced: each share is a single backtest with its part of the capital."""
    equity = np.zeros(time.shape[0])
    returns = np.zeros((len(members), time.shape[0]))
    logs = []
    for count, member in enumerate(members):
        capital = member.weight * backtest.initial_capital
        simulation = simulate(
            member.bars, _signals(member, backtest), capital, backtest.orders, backtest.costs
        )
        share = _on_calendar(member, simulation.equity, capital)
        equity += share
        _share_returns(share, returns[count])
        logs.append(simulation.trades)
        on_progress(0.7 * (count + 1) / len(members))
    return _Shares(equity, returns, logs, 0)


def _shared_account(
    members: Sequence[_Member],
    time: IntArray,
    rebalance_at: BoolArray,
    backtest: ResolvedBacktest,
    on_progress: ProgressCallback,
) -> _Shares:
    """Rebalanced: the symbols' trades settled in one account (`portfolio_account`)."""
    plans = []
    for count, member in enumerate(members):
        signals = _signals(member, backtest)
        plans.append(TradePlan.of(member.bars, signals, backtest.orders, backtest.costs))
        on_progress(0.5 * (count + 1) / len(members))
    bookings = _bookings(members, plans)
    account = run_shared_account(
        bookings,
        time.shape[0],
        np.array([member.weight for member in members]),
        backtest.initial_capital,
        rebalance_at,
        backtest.orders.sizing,
        backtest.costs,
    )
    logs = [
        _settled_log(
            plan,
            account,
            slice(bookings.trade_start[s], bookings.trade_start[s + 1]),
            int(bookings.bar_start[s]),
            backtest,
        )
        for s, plan in enumerate(plans)
    ]
    return _Shares(account.equity, account.returns, logs, account.rebalances)


def _signals(member: _Member, backtest: ResolvedBacktest) -> Any:
    return signals_of(member.bars, backtest.model_copy(update={"symbol": member.symbol}))


def _held_to(log: TradeLog, backtest: ResolvedBacktest) -> IntArray:
    """The bar after each trade's last bar held, from its columns."""
    at_close = 1 if backtest.orders.fill == "close" else 0
    return log.entry_bar + log.bars_held + at_close


def _bookings(members: Sequence[_Member], plans: Sequence[TradePlan]) -> Bookings:
    bar_start = np.cumsum([0, *(len(member.bars) for member in members)])
    trade_start = np.cumsum([0, *(plan.long.shape[0] for plan in plans)])
    offsets = bar_start[:-1]
    return Bookings(
        union_bar=np.concatenate([member.calendar_index for member in members]),
        close=np.concatenate([member.bars.close for member in members]),
        bar_start=bar_start.astype(np.int64),
        trade_start=trade_start.astype(np.int64),
        long=np.concatenate([plan.long for plan in plans]),
        entry_bar=np.concatenate(
            [plan.entry_bar + at for plan, at in zip(plans, offsets, strict=True)]
        ),
        exit_bar=np.concatenate(
            [plan.timeline.exit_bar + at for plan, at in zip(plans, offsets, strict=True)]
        ),
        entry_price=np.concatenate([plan.entry_price for plan in plans]),
        exit_price=np.concatenate([plan.exit_price for plan in plans]),
    )


def _settled_log(
    plan: TradePlan,
    account: SharedAccount,
    rows: slice,
    bar_offset: int,
    backtest: ResolvedBacktest,
) -> TradeLog:
    """One symbol's trades as the shared account made them, on its own bars."""
    made = account.made[rows]
    liquidated = account.liquidated[rows][made]
    size, pnl = account.size[rows][made], account.pnl[rows][made]
    entry_bar, entry_price = plan.entry_bar[made], plan.entry_price[made]
    exit_bar = account.exit_bar[rows][made] - bar_offset
    exit_at_open = plan.timeline.exit_at_open[made] & ~liquidated
    reasons = np.where(liquidated, LIQUIDATION, plan.timeline.exit_reason[made])
    entry_cost = size * entry_price * backtest.costs.commission_pct + backtest.costs.fee_per_fill
    held_to = held_until(exit_bar, exit_at_open)
    return TradeLog(
        long=plan.long[made],
        entry_bar=entry_bar,
        exit_bar=exit_bar,
        entry_price=entry_price,
        exit_price=account.exit_price[rows][made],
        size=size,
        pnl=pnl,
        return_fraction=pnl / (size * entry_price + entry_cost),
        exit_reason=[EXIT_REASONS[code] for code in reasons.tolist()],
        bars_held=held_to - entry_bar - (1 if plan.at_close else 0),
    )


def _on_calendar(member: _Member, values: np.ndarray[Any, Any], before: Any) -> Any:
    """`values` (one per own bar) at every calendar time: the last one up to it, and
    `before` until the first."""
    spread = values[np.maximum(member.last_bar, 0)]
    if member.last_bar[0] < 0:
        spread[member.last_bar < 0] = before
    return spread


@compiled
def _share_returns(share: FloatArray, returns: FloatArray) -> None:
    """A share's per-bar returns into `returns` (0 where its value before is not
    positive), without a branch, so that the loop compiles to vector code."""
    later, earlier, out = share[1:], share[:-1], returns[1:]
    for t in range(out.shape[0]):
        positive = earlier[t] > 0
        out[t] = (later[t] - earlier[t]) / (earlier[t] if positive else 1.0) * positive


@compiled
def _correlation_matrix(returns: FloatArray) -> FloatArray:
    """Pearson correlations of the rows, two passes over them (means, then the centred
    sums); NaN for a row that does not vary."""
    rows, n = returns.shape
    means = np.zeros(rows)
    for s in range(rows):
        means[s] = returns[s, 1:].sum() / max(n - 1, 1)
    sums = np.zeros((rows, rows))
    centred = np.empty(rows)
    for t in range(1, n):
        for s in range(rows):
            centred[s] = returns[s, t] - means[s]
        for i in range(rows):
            for j in range(i, rows):
                sums[i, j] += centred[i] * centred[j]
    matrix = np.full((rows, rows), np.nan)
    for i in range(rows):
        for j in range(i, rows):
            if sums[i, i] > 0 and sums[j, j] > 0:
                value = sums[i, j] / np.sqrt(sums[i, i] * sums[j, j])
                matrix[i, j] = matrix[j, i] = min(1.0, max(-1.0, value))
    return matrix


def _correlation(returns: FloatArray) -> list[list[float | None]]:
    matrix = _correlation_matrix(returns)
    return [
        [float(value) if np.isfinite(value) else None for value in row] for row in matrix.tolist()
    ]


def _merged(
    members: Sequence[_Member], logs: Sequence[TradeLog], time: IntArray
) -> PortfolioTradeTable:
    """The symbols' trades as one table on the calendar, by entry time, then symbol."""
    symbol = np.concatenate(
        [np.full(len(log), code, dtype=np.int64) for code, log in enumerate(logs)]
    )
    entry_bar = np.concatenate(
        [member.calendar_index[log.entry_bar] for member, log in zip(members, logs, strict=True)]
    )
    exit_bar = np.concatenate(
        [member.calendar_index[log.exit_bar] for member, log in zip(members, logs, strict=True)]
    )
    order = np.lexsort((symbol, entry_bar))

    def joined(name: str) -> Any:
        return np.concatenate([getattr(log, name) for log in logs])[order]

    reasons = [reason for log in logs for reason in log.exit_reason]
    log = TradeLog(
        long=joined("long"),
        entry_bar=entry_bar[order],
        exit_bar=exit_bar[order],
        entry_price=joined("entry_price"),
        exit_price=joined("exit_price"),
        size=joined("size"),
        pnl=joined("pnl"),
        return_fraction=joined("return_fraction"),
        exit_reason=[reasons[k] for k in order.tolist()],
        bars_held=joined("bars_held"),
    )
    return PortfolioTradeTable(
        log, time, symbols=tuple(member.symbol for member in members), symbol=symbol[order]
    )


def _basket(members: Sequence[_Member], time: IntArray) -> Bars:
    """Bars on the calendar whose close is the basket bought at the weights at the
    first close (a symbol held as cash until its first bar); one symbol: its own bars,
    so a one-symbol portfolio's statistics are the single backtest's to the last bit."""
    if len(members) == 1:
        return members[0].bars
    basket = np.zeros(time.shape[0])
    for member in members:
        close = member.bars.close
        basket += member.weight * _on_calendar(member, close / close[0], 1.0)
    return Bars(time=time, open=basket, high=basket, low=basket, close=basket, volume=basket)
