"""Parameter sweeps: one strategy over a grid of parameter values, ranked by a statistic.

Every combination runs the same simulation as a single backtest, on the same bars, so
its numbers are exactly those a backtest with its parameters would report. Indicator
series are shared between combinations through one byte-bounded cache: a grid of fast
and slow averages computes each average once, not once per combination. Only each
combination's statistics are kept; the best one is then run in full (trades, curves).
"""

from __future__ import annotations

from backend_services.services.backtest.engine.evaluate import SharedSeries, shared_series
from backend_services.services.backtest.engine.metrics import Calendar, compute_statistics
from backend_services.services.backtest.engine.run import (
    BacktestRun,
    ProgressCallback,
    check_enough_bars,
    run_backtest,
    simulate_backtest,
)
from shared.contracts.backtests import ResolvedBacktest
from shared.contracts.results import BacktestStatistics
from shared.contracts.sweeps import Heatmap, Optimization, RankedTable, Sweep, SweepRow
from shared.market_data.bars import Bars

SHARED_SERIES_BYTES = 256 << 20
_ROW_STATISTICS = [
    name for name in SweepRow.model_fields if name in BacktestStatistics.model_fields
]
# Progress: the grid takes this share of the work, the full run of the best the rest.
_GRID_SHARE = 0.9


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
    rows = sweep_rows(
        bars,
        backtest,
        sweep,
        range(count),
        shared,
        lambda fraction: on_progress(_GRID_SHARE * fraction),
    )
    return merge_rows(bars, backtest, sweep, rows, strategy_id, shared)


def sweep_rows(
    bars: Bars,
    backtest: ResolvedBacktest,
    sweep: Sweep,
    indices: range,
    shared: SharedSeries,
    on_progress: ProgressCallback = lambda fraction: None,
) -> list[SweepRow]:
    """The rows of the combinations at `indices` (of `sweep.combinations`, in grid
    order): the same rows, in the same order, whichever way the grid is split."""
    check_enough_bars(bars, backtest)
    combinations = sweep.combinations(backtest.parameters)[indices.start : indices.stop]
    calendar = Calendar.of(bars.time)
    rows: list[SweepRow] = []
    for done, parameters in enumerate(combinations):
        variant = backtest.model_copy(update={"parameters": parameters})
        simulation = simulate_backtest(bars, variant, shared)
        statistics = compute_statistics(
            bars, simulation, backtest.initial_capital, calendar, against_the_asset=False
        )
        rows.append(_row(sweep, parameters, statistics))
        on_progress((done + 1) / len(combinations))
    return rows


def merge_rows(
    bars: Bars,
    backtest: ResolvedBacktest,
    sweep: Sweep,
    rows: list[SweepRow],
    strategy_id: str,
    shared: SharedSeries | None = None,
) -> tuple[BacktestRun, Optimization]:
    """Every combination's row (in grid order) ranked, and the best run in full."""
    ranked = sorted(rows, key=_rank)
    best_parameters = backtest.parameters | ranked[0].parameters
    best = run_backtest(
        bars, backtest.model_copy(update={"parameters": best_parameters}), strategy_id, shared
    )
    optimization = Optimization(
        objective=sweep.objective,
        combinations=len(rows),
        excluded=sweep.grid_size - len(rows),
        best_parameters=best_parameters,
        ranked=RankedTable.of_rows(ranked),
        heatmap=heatmap(sweep, rows),
    )
    return best, optimization


def heatmap(sweep: Sweep, rows: list[SweepRow]) -> Heatmap:
    """The objective over the first two swept parameters, the best over any others."""
    names = list(sweep.grid)
    x, y = names[0], names[1] if len(names) > 1 else None
    x_values = sweep.grid[x]
    y_values = sweep.grid[y] if y is not None else []
    column = {value: j for j, value in enumerate(x_values)}
    line = {value: i for i, value in enumerate(y_values)}
    empty: list[float | None] = [None] * len(x_values)
    values = [list(empty) for _ in range(max(len(y_values), 1))]
    for row in rows:
        if row.objective is None:
            continue
        i = line[row.parameters[y]] if y is not None else 0
        j = column[row.parameters[x]]
        current = values[i][j]
        if current is None or row.objective > current:
            values[i][j] = row.objective
    return Heatmap(x=x, x_values=x_values, y=y, y_values=y_values, values=values)


def _row(sweep: Sweep, parameters: dict[str, float], statistics: BacktestStatistics) -> SweepRow:
    return SweepRow(
        parameters={name: parameters[name] for name in sweep.grid},
        objective=getattr(statistics, sweep.objective),
        **{name: getattr(statistics, name) for name in _ROW_STATISTICS},
    )


def _rank(row: SweepRow) -> tuple[bool, float]:
    """Highest objective first, undefined ones last; ties keep the grid's order."""
    return (row.objective is None, -(row.objective or 0.0))
