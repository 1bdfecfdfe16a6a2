"""The engine's door: bars and a strategy in, a run out. No I/O.

Everything the rest of the service needs of the engine is here; its rooms are the
modules of `engine/`.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from backend_services.services.backtest.engine.evaluate import SharedSeries, shared_series
from backend_services.services.backtest.engine.portfolio import run_portfolio
from backend_services.services.backtest.engine.rule_functions import outputs
from backend_services.services.backtest.engine.run import (
    BacktestRun,
    ProgressCallback,
    run_backtest,
)
from backend_services.services.backtest.engine.sized_lru import SizedLRU
from backend_services.services.backtest.engine.sweep import (
    SHARED_SERIES_BYTES,
    Searcher,
    SweepBatch,
    merge_rows,
    optimize,
    search,
    sweep_rows,
)
from backend_services.services.backtest.engine.trade_table import TradeTable
from backend_services.services.backtest.engine.walk_forward import (
    WindowSpan,
    plan_windows,
    stitch,
    train_window,
    walk_forward,
)
from shared.contracts.backtests import ResolvedBacktest
from shared.contracts.portfolios import Portfolio, Rebalance
from shared.contracts.strategies import Costs, Orders, Rules
from shared.contracts.sweeps import Optimization, Sweep, SweepRow
from shared.contracts.validation import Validation, WalkForward
from shared.market_data.bars import Bars
from shared.rules.functions import FUNCTIONS

__all__ = [
    "BacktestEngine",
    "BacktestRun",
    "Bars",
    "ProgressCallback",
    "Searcher",
    "SizedLRU",
    "SweepBatch",
    "TradeTable",
    "WindowSpan",
    "warm_up",
]


class BacktestEngine:
    """Runs a strategy's rules over bars.

    The rules are evaluated on every bar at once (`engine/evaluate.py`); fills, stops,
    sizing, costs and the end of data follow `engine/simulation.py`. Example::

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
        return run_backtest(bars, backtest, strategy_id, shared, self._on_progress)

    def portfolio(
        self,
        members: list[tuple[str, Bars]],
        backtest: ResolvedBacktest,
        portfolio: Portfolio,
        strategy_id: str,
        data_versions: list[int],
    ) -> BacktestRun:
        """The rules over a basket of symbols with one account (`engine/portfolio.py`):
        `members` are the symbols' bars in the order of `portfolio.symbols`; the run's
        trades are tagged with their symbols."""
        run = run_portfolio(
            members, backtest, portfolio, strategy_id, data_versions, self._on_progress
        )
        return BacktestRun(run.result, run.trades)

    def optimize(
        self, bars: Bars, backtest: ResolvedBacktest, sweep: Sweep, strategy_id: str
    ) -> tuple[BacktestRun, Optimization]:
        """Every combination of the sweep, ranked; the run is the best one's, in full."""
        return optimize(bars, backtest, sweep, strategy_id, self._on_progress)

    def search(
        self,
        bars: Bars,
        backtest: ResolvedBacktest,
        sweep: Sweep,
        strategy_id: str,
        searcher: Searcher,
    ) -> tuple[BacktestRun, Optimization]:
        """A random or TPE search's trials, as `searcher` draws them, ranked; the run is
        the best one's, in full."""
        return search(bars, backtest, sweep, strategy_id, searcher, self._on_progress)

    def sweep_part(
        self, bars: Bars, backtest: ResolvedBacktest, sweep: Sweep, indices: range
    ) -> SweepBatch:
        """The rows of the sweep's combinations at `indices`: a sweep split into parts
        run anywhere, merged with `merge_sweep`, gives what `optimize` gives."""
        shared = shared_series(SHARED_SERIES_BYTES)
        return sweep_rows(bars, backtest, sweep, indices, shared, self._on_progress)

    def merge_sweep(
        self,
        bars: Bars,
        backtest: ResolvedBacktest,
        sweep: Sweep,
        batch: SweepBatch,
        strategy_id: str,
    ) -> tuple[BacktestRun, Optimization]:
        """The parts' rows (`SweepBatch.joined`, in grid order) ranked; the run is the
        best one's, in full."""
        return merge_rows(bars, backtest, sweep, batch, strategy_id)

    def walk_forward(
        self,
        bars: Bars,
        backtest: ResolvedBacktest,
        sweep: Sweep,
        validation: Validation,
        strategy_id: str,
    ) -> tuple[BacktestRun, WalkForward]:
        """The sweep validated walk-forward; the run is the stitched out-of-sample one."""
        return walk_forward(bars, backtest, sweep, validation, strategy_id, self._on_progress)

    def windows(
        self, bars: Bars, backtest: ResolvedBacktest, validation: Validation
    ) -> list[WindowSpan]:
        """A walk-forward's windows over the bars: `train_window` and `stitch` them."""
        return plan_windows(bars, validation, backtest)

    def train_window(
        self, bars: Bars, backtest: ResolvedBacktest, sweep: Sweep, window: WindowSpan
    ) -> SweepBatch:
        """The best combination over a window's train bars, which any worker may find."""
        return train_window(bars, backtest, sweep, window, self._on_progress)

    def stitch(
        self,
        bars: Bars,
        backtest: ResolvedBacktest,
        sweep: Sweep,
        validation: Validation,
        windows: list[WindowSpan],
        winners: list[SweepRow],
        strategy_id: str,
    ) -> tuple[BacktestRun, WalkForward]:
        """Every window's winner over its test bars, as `walk_forward` gives."""
        return stitch(bars, backtest, sweep, validation, windows, winners, strategy_id)


def warm_up() -> None:
    """Compute every indicator and run a small backtest that takes every other compiled
    loop, so that they are compiled, or loaded from numba's disk cache, now: a worker
    calls this once at start rather than making its first backtest wait (about 0.3 s
    from the cache, seconds without)."""
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
    for name, function in FUNCTIONS.items():  # every indicator, whatever the rules use
        series = [getattr(bars, str(arg.default), bars.close) for arg in function.inputs]
        periods = [3 for arg in function.args[len(series) :] if arg.default is None]
        outputs(name, [*series, *periods])
    engine = BacktestEngine()
    engine.run(bars, backtest, "warm-up")
    members = [("A", bars), ("B", bars.take(slice(1, None)))]  # calendars that differ
    for rebalance in ("never", Rebalance(every=5, unit="bars")):
        basket = Portfolio(symbols=["A", "B"], rebalance=rebalance)
        engine.portfolio(members, backtest, basket, "warm-up", [1, 1])
    engine.optimize(bars, backtest, Sweep(grid={"fast": [2, 3]}), "warm-up")
