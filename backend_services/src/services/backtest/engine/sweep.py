"""Parameter sweeps: one strategy over a grid of parameter values, ranked by a statistic.

Every combination runs the same simulation as a single backtest, on the same bars, so
its numbers are exactly those a backtest with its parameters would report. Indicator
series are shared between combinations through one byte-bounded cache: a grid of fast
and slow averages computes each average once, not once per combination. Only each
combination's statistics are kept, and the per-block moments of its returns the
overfitting measures need (`overfitting.py`); the best one is then run in full (trades,
curves). A random or TPE search (`search`) runs the same trials, one combination at a
time, in the order a `Searcher` draws them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from backend_services.services.backtest.engine.evaluate import SharedSeries, shared_series
from backend_services.services.backtest.engine.heatmap import heatmap
from backend_services.services.backtest.engine.metrics import Calendar, compute_statistics
from backend_services.services.backtest.engine.overfitting import (
    BLOCKS,
    MOMENTS,
    block_moments,
    deflated_sharpe,
    probability_of_backtest_overfitting,
)
from backend_services.services.backtest.engine.run import (
    BacktestRun,
    ProgressCallback,
    check_enough_bars,
    run_backtest,
    simulate_backtest,
)
from shared.contracts.backtests import ResolvedBacktest
from shared.contracts.common import InconsistentRequest
from shared.contracts.results import BacktestStatistics
from shared.contracts.sweeps import Optimization, RankedTable, Sweep, SweepRow
from shared.market_data.bars import Bars, FloatArray

SHARED_SERIES_BYTES = 256 << 20
_ROW_STATISTICS = [
    name for name in SweepRow.model_fields if name in BacktestStatistics.model_fields
]
# Progress: the grid takes this share of the work, the full run of the best the rest.
_GRID_SHARE = 0.9

Combination = dict[str, float]
# Draws combinations of a search's sweep and runs each through `keeps` (the constraint;
# False: not run) and then `evaluate` (its objective, None when undefined), reporting
# the fraction of its trials done to `on_progress`, until its trials are done.
Searcher = Callable[
    [Sweep, Callable[[Combination], bool], Callable[[Combination], float | None], ProgressCallback],
    None,
]


@dataclass(frozen=True, slots=True)
class SweepBatch:
    """Combinations' rows and the per-block moments of their returns (float64, shape
    (len(rows), MOMENTS, BLOCKS)), in the order they were run."""

    rows: list[SweepRow]
    moments: FloatArray

    @classmethod
    def joined(cls, batches: list[SweepBatch]) -> SweepBatch:
        rows = [row for batch in batches for row in batch.rows]
        moments = [batch.moments for batch in batches]
        return cls(rows, np.concatenate(moments) if moments else _no_moments())

    def moments_bytes(self) -> bytes:
        """The moments as bytes to store; `of_bytes` reads them back."""
        return np.ascontiguousarray(self.moments, dtype=np.float64).tobytes()

    @classmethod
    def of_bytes(cls, rows: list[SweepRow], moments: bytes) -> SweepBatch:
        shape = (len(rows), MOMENTS, BLOCKS)
        return cls(rows, np.frombuffer(moments, dtype=np.float64).reshape(shape))


def _no_moments() -> FloatArray:
    return np.zeros((0, MOMENTS, BLOCKS))


class _Trials:
    """Runs combinations of one sweep on the same bars, sharing indicator series."""

    def __init__(
        self, bars: Bars, backtest: ResolvedBacktest, sweep: Sweep, shared: SharedSeries
    ) -> None:
        check_enough_bars(bars, backtest)
        self._bars, self._backtest, self._sweep, self.shared = bars, backtest, sweep, shared
        self._calendar = Calendar.of(bars.time)
        self.rows: list[SweepRow] = []
        self.moments: list[FloatArray] = []

    def run(self, parameters: Combination) -> float | None:
        """Run one complete parameter set and keep its row; its objective."""
        variant = self._backtest.model_copy(update={"parameters": parameters})
        simulation = simulate_backtest(self._bars, variant, self.shared)
        statistics = compute_statistics(
            self._bars,
            simulation,
            self._backtest.initial_capital,
            self._calendar,
            against_the_asset=False,
        )
        row = _row(self._sweep, parameters, statistics)
        self.rows.append(row)
        self.moments.append(block_moments(simulation.equity, BLOCKS))
        return row.objective

    def batch(self) -> SweepBatch:
        moments = np.stack(self.moments) if self.moments else _no_moments()
        return SweepBatch(self.rows, moments)


def optimize(
    bars: Bars,
    backtest: ResolvedBacktest,
    sweep: Sweep,
    strategy_id: str,
    on_progress: ProgressCallback = lambda fraction: None,
) -> tuple[BacktestRun, Optimization]:
    """Run every combination the sweep keeps; returns the full run of the best and the
    ranking. `on_progress` gets the fraction done and may raise to abandon the sweep."""
    check_enough_bars(bars, backtest)
    shared = shared_series(SHARED_SERIES_BYTES)
    count = len(sweep.combinations(backtest.parameters))
    batch = sweep_rows(
        bars,
        backtest,
        sweep,
        range(count),
        shared,
        lambda fraction: on_progress(_GRID_SHARE * fraction),
    )
    return merge_rows(bars, backtest, sweep, batch, strategy_id, shared)


def search(
    bars: Bars,
    backtest: ResolvedBacktest,
    sweep: Sweep,
    strategy_id: str,
    searcher: Searcher,
    on_progress: ProgressCallback = lambda fraction: None,
) -> tuple[BacktestRun, Optimization]:
    """A random or TPE search: the trials `searcher` draws, ranked, and the full run of
    the best. `on_progress` gets the fraction done and may raise to abandon it."""
    trials = _Trials(bars, backtest, sweep, shared_series(SHARED_SERIES_BYTES))
    constraint = sweep.constraint_of(backtest.parameters)
    excluded = 0

    def keeps(combination: Combination) -> bool:
        nonlocal excluded
        kept = sweep.keeps(constraint, backtest.parameters | combination)
        excluded += not kept
        return kept

    searcher(
        sweep,
        keeps,
        lambda combination: trials.run(backtest.parameters | combination),
        lambda fraction: on_progress(_GRID_SHARE * fraction),
    )
    if not trials.rows:
        raise InconsistentRequest(
            "sweep", "sweep.constraint: the search drew no combination that satisfies it"
        )
    return merge_rows(bars, backtest, sweep, trials.batch(), strategy_id, trials.shared, excluded)


def sweep_rows(
    bars: Bars,
    backtest: ResolvedBacktest,
    sweep: Sweep,
    indices: range,
    shared: SharedSeries,
    on_progress: ProgressCallback = lambda fraction: None,
) -> SweepBatch:
    """The rows of the combinations at `indices` (of `sweep.combinations`, in grid
    order): the same rows, in the same order, whichever way the grid is split."""
    trials = _Trials(bars, backtest, sweep, shared)
    combinations = sweep.combinations(backtest.parameters)[indices.start : indices.stop]
    for done, parameters in enumerate(combinations):
        trials.run(parameters)
        on_progress((done + 1) / len(combinations))
    return trials.batch()


def merge_rows(
    bars: Bars,
    backtest: ResolvedBacktest,
    sweep: Sweep,
    batch: SweepBatch,
    strategy_id: str,
    shared: SharedSeries | None = None,
    excluded: int | None = None,
) -> tuple[BacktestRun, Optimization]:
    """Every combination's row (in grid order, or a search's run order) ranked, with how
    likely the best is to be luck, and the best run in full. `excluded`: the combinations
    the constraint left out, when not the grid's."""
    rows = batch.rows
    order = sorted(range(len(rows)), key=lambda k: _rank(rows[k]))
    ranked = [rows[k] for k in order]
    best_parameters = backtest.parameters | ranked[0].parameters
    best = run_backtest(
        bars, backtest.model_copy(update={"parameters": best_parameters}), strategy_id, shared
    )
    searched = sweep.method != "grid"
    optimization = Optimization(
        objective=sweep.objective,
        method=sweep.method,
        combinations=len(rows),
        excluded=sweep.grid_size - len(rows) if excluded is None else excluded,
        best_parameters=best_parameters,
        ranked=RankedTable.of_rows(ranked),
        heatmap=heatmap(sweep, rows),
        trial_objectives=[row.objective for row in rows] if searched else None,
        deflated_sharpe=deflated_sharpe(batch.moments, order[0]),
        pbo=probability_of_backtest_overfitting(batch.moments),
    )
    return best, optimization


def _row(sweep: Sweep, parameters: dict[str, float], statistics: BacktestStatistics) -> SweepRow:
    return SweepRow(
        parameters={name: parameters[name] for name in sweep.swept},
        objective=getattr(statistics, sweep.objective),
        **{name: getattr(statistics, name) for name in _ROW_STATISTICS},
    )


def _rank(row: SweepRow) -> tuple[bool, float]:
    """Highest objective first, undefined ones last; ties keep the grid's order."""
    return (row.objective is None, -(row.objective or 0.0))
