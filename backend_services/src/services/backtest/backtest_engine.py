"""The engine's entry point: bars and a strategy in, a BacktestResult out. No I/O."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from backend_services.contracts import (
    BacktestResult,
    Costs,
    EquityCurve,
    Orders,
    ResolvedBacktest,
    Rules,
)
from backend_services.market_data.bars import Bars, MarketDataError
from backend_services.rules.evaluate import RuleEvaluator, SharedSeries
from backend_services.rules.parser import parse_rule
from backend_services.services.backtest.downsample import extremes_preserving_indices
from backend_services.services.backtest.metrics import compute_statistics
from backend_services.services.backtest.simulation import Simulation, simulate
from backend_services.services.backtest.trade_search import Signals
from backend_services.services.backtest.trade_table import TradeTable
from backend_services.timeframes import utc_datetime, utc_datetimes

MAX_EQUITY_POINTS = 2_000

ProgressCallback = Callable[[float], None]


@dataclass(frozen=True, slots=True)
class BacktestRun:
    """A run's result, whose `trades` are the first MAX_INLINE_TRADES, and every trade."""

    result: BacktestResult
    trades: TradeTable


class BacktestEngine:
    """Runs a strategy's rules over bars.

    The rules are evaluated on every bar at once (`rules.evaluate`); fills, stops, sizing,
    costs and the end of data follow `simulation`. Example::

        run = BacktestEngine().run(bars, backtest, strategy_id="s1")
        run.result.total_return  # 0.42 means +42 %

    `on_progress` is called with the fraction done (0..1) between stages; it may raise
    to abandon the run (that is how a cancelled execution stops).
    """

    def __init__(self, on_progress: ProgressCallback | None = None) -> None:
        self._on_progress = on_progress or (lambda fraction: None)

    def run(
        self,
        bars: Bars,
        backtest: ResolvedBacktest,
        strategy_id: str,
        shared: SharedSeries | None = None,
    ) -> BacktestRun:
        """`shared` lets indicator series computed by earlier runs on these bars serve."""
        check_enough_bars(bars, backtest)
        simulation = simulate_backtest(bars, backtest, shared)
        self._on_progress(0.7)
        statistics = compute_statistics(bars, simulation, backtest.initial_capital)
        curves = _curves(bars, simulation, backtest.initial_capital)
        self._on_progress(0.9)
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


def _curves(bars: Bars, simulation: Simulation, initial_capital: float) -> EquityCurve:
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
    return EquityCurve(
        time=utc_datetimes(bars.time[chosen].tolist()),
        equity=simulation.equity[chosen].tolist(),
        drawdown=falls[chosen].tolist(),
        buy_and_hold=(initial_capital * bars.close[chosen] / bars.close[0]).tolist(),
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


def warm_up() -> None:
    """Run a small backtest that takes every compiled loop, so that they are compiled,
    or loaded from numba's disk cache, now: a worker calls this once at start rather
    than making its first backtest wait (about 0.3 s from the cache, seconds without)."""
    count = 64
    close = 100 + np.sin(np.arange(count, dtype=np.float64))
    bars = Bars(
        time=60 * np.arange(count, dtype=np.int64),
        open=close,
        high=close + 1,
        low=close - 1,
        close=close,
        volume=np.ones(count),
    )
    backtest = ResolvedBacktest(
        symbol="WARMUP",
        timeframe="1m",
        start_date=datetime(1970, 1, 1, tzinfo=UTC),
        end_date=datetime(1970, 1, 2, tzinfo=UTC),
        initial_capital=1_000.0,
        parameters={"fast": 2, "slow": 5},
        rules=Rules(),
        orders=Orders(stop_loss_pct=0.01, trailing_stop_pct=0.01, take_profit_pct=0.01),
        costs=Costs(),
    )
    BacktestEngine().run(bars, backtest, "warm-up")
