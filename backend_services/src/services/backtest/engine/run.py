"""One backtest over bars: signals from the rules, the simulation, statistics, curves."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from backend_services.services.backtest.engine.downsample import extremes_preserving_indices
from backend_services.services.backtest.engine.evaluate import RuleEvaluator, SharedSeries
from backend_services.services.backtest.engine.metrics import compute_statistics
from backend_services.services.backtest.engine.simulation import Simulation, simulate
from backend_services.services.backtest.engine.trade_search import Signals
from backend_services.services.backtest.engine.trade_table import TradeTable
from shared.contracts.backtests import ResolvedBacktest
from shared.contracts.results import BacktestResult, EquityCurve
from shared.market_data.bars import Bars, MarketDataError
from shared.rules.parser import parse_rule
from shared.timeframes import utc_datetime

MAX_EQUITY_POINTS = 2_000

ProgressCallback = Callable[[float], None]


@dataclass(frozen=True, slots=True)
class BacktestRun:
    """A run's result, whose `trades` are the first MAX_INLINE_TRADES, and every trade."""

    result: BacktestResult
    trades: TradeTable


def run_backtest(
    bars: Bars,
    backtest: ResolvedBacktest,
    strategy_id: str,
    shared: SharedSeries | None = None,
    on_progress: ProgressCallback = lambda fraction: None,
) -> BacktestRun:
    """The full run: statistics, curves, the first trades as models and every trade.
    `shared` lets indicator series computed by earlier runs on these bars serve."""
    check_enough_bars(bars, backtest)
    simulation = simulate_backtest(bars, backtest, shared)
    on_progress(0.7)
    return run_of(bars, simulation, backtest, strategy_id, lambda: on_progress(0.9))


def run_of(
    bars: Bars,
    simulation: Simulation,
    backtest: ResolvedBacktest,
    strategy_id: str,
    on_curves: Callable[[], None] = lambda: None,
) -> BacktestRun:
    """The run of a simulation over `bars`: statistics, curves and trades."""
    statistics = compute_statistics(bars, simulation, backtest.initial_capital)
    curves = equity_curves(bars, simulation, backtest.initial_capital)
    on_curves()
    trades = TradeTable(simulation.trades, bars.time)
    result = BacktestResult(
        strategy_id=strategy_id,
        symbol=backtest.symbol,
        timeframe=backtest.timeframe,
        start=utc_datetime(int(bars.time[0])),
        end=utc_datetime(int(bars.time[-1])),
        bars=len(bars),
        initial_capital=backtest.initial_capital,
        trades=trades.models(),
        equity_curve=curves,
        **statistics.model_dump(),
    )
    return BacktestRun(result, trades)


def equity_curves(bars: Bars, simulation: Simulation, initial_capital: float) -> EquityCurve:
    """The three curves at no more than MAX_EQUITY_POINTS bars, keeping each curve's
    extremes: every curve chooses a third of the points, and all share the union.
    Buy-and-hold is the close scaled, so it is computed at the chosen bars only."""
    share = MAX_EQUITY_POINTS // 3
    falls = simulation.drawdowns.falls
    chosen = np.unique(
        np.concatenate(
            [
                extremes_preserving_indices(values, share)
                for values in (simulation.equity, falls, bars.close)
            ]
        )
    )
    return EquityCurve.model_validate(
        {
            # Epoch seconds: pydantic makes them UTC datetimes, five times faster.
            "time": bars.time[chosen].tolist(),
            "equity": simulation.equity[chosen].tolist(),
            "drawdown": falls[chosen].tolist(),
            "buy_and_hold": (initial_capital * bars.close[chosen] / bars.close[0]).tolist(),
        }
    )


def check_enough_bars(bars: Bars, backtest: ResolvedBacktest) -> None:
    if len(bars) < 2:
        raise MarketDataError(
            f"{len(bars)} {backtest.timeframe} bar(s) of {backtest.symbol} between "
            f"{backtest.start_date:%Y-%m-%d %H:%M} and {backtest.end_date:%Y-%m-%d %H:%M}; "
            "a backtest needs at least 2"
        )


def simulate_backtest(
    bars: Bars, backtest: ResolvedBacktest, shared: SharedSeries | None = None
) -> Simulation:
    """The backtest's trades and equity, before statistics."""
    return simulate(
        bars,
        signals_of(bars, backtest, shared),
        backtest.initial_capital,
        backtest.orders,
        backtest.costs,
    )


def signals_of(
    bars: Bars, backtest: ResolvedBacktest, shared: SharedSeries | None = None
) -> Signals:
    """The bars each of the four rules fires on; a rule that is not set never fires."""
    evaluator = RuleEvaluator(bars, backtest.parameters, shared)
    parameters = backtest.parameters.keys()
    fired = {
        name: np.flatnonzero(evaluator.condition(parse_rule(text, parameters)))
        for name, text in backtest.rules.named().items()
    }
    never = np.empty(0, dtype=np.int64)
    return Signals(
        long_entry=fired.get("long_entry", never),
        long_exit=fired.get("long_exit", never),
        short_entry=fired.get("short_entry", never),
        short_exit=fired.get("short_exit", never),
    )
