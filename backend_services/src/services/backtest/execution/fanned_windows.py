"""Running a walk-forward validation: its windows' optimizations in turn, or fanned out
over a fleet as a sweep's parts are (`sweep_parts`), one window a part.

A window's optimization is the whole of its work but the test run, and needs nothing
of any other window: the run that owns the execution writes a part per window, asks
the fleet for a helper per part beyond the first, trains windows itself, waits for the
helpers' while its heartbeat keeps the execution alive, takes back a window whose
helper stopped beating, then runs the winners over the test windows in order (each
starts with the equity the last ended with) and stitches them. A part's rows are the
one row of its window's winner.
"""

from __future__ import annotations

from dataclasses import dataclass

from pymongo.database import Database

from backend_services.services.backtest.backtest_engine import (
    BacktestEngine,
    BacktestRun,
    Bars,
    ProgressCallback,
    WindowSpan,
)
from backend_services.services.backtest.execution.fanned_sweep import (
    FanOut,
    beating,
    help_until_done,
    work_owned_parts,
)
from backend_services.services.backtest.execution.run_liveness import (
    ProgressRecorder,
)
from backend_services.services.backtest.execution.sweep_parts import (
    PARTS_COLLECTION,
    Part,
    SweepParts,
)
from shared.contracts.backtests import ResolvedBacktest
from shared.contracts.sweeps import Sweep
from shared.contracts.validation import Validation, WalkForward
from shared.mongo import Document

__all__ = ["WalkForwardJob", "help_with_windows", "run_walk_forward"]


@dataclass(frozen=True, slots=True)
class WalkForwardJob:
    bars: Bars
    backtest: ResolvedBacktest
    sweep: Sweep
    validation: Validation
    strategy_id: str

    def windows(self) -> list[WindowSpan]:
        return BacktestEngine().windows(self.bars, self.backtest, self.validation)


def run_walk_forward(
    database: Database[Document],
    job: WalkForwardJob,
    execution_id: str,
    run_id: str,
    progress: ProgressRecorder,
    fan_out: FanOut | None,
) -> tuple[BacktestRun, WalkForward, list[str]]:
    """The validation, and the workers that trained windows when a fleet fanned them
    out (none when this one trained them all in turn). Progress: 50 to 95 % as windows
    are trained, then the test runs."""
    windows = job.windows()
    if fan_out is None or len(windows) < 2:
        engine = BacktestEngine(lambda fraction: progress.report(50 + 49 * fraction))
        run, outcome = engine.walk_forward(
            job.bars, job.backtest, job.sweep, job.validation, job.strategy_id
        )
        return run, outcome, []
    parts = SweepParts(database[PARTS_COLLECTION], execution_id, run_id)
    count = parts.create(len(windows), 1)
    fan_out.ask_for_helpers(execution_id, run_id, count - 1)
    winners, workers = work_owned_parts(
        parts,
        fan_out,
        count,
        progress,
        lambda part, me, report: _train(parts, part, job, windows, me, fan_out, report),
    )
    engine = BacktestEngine(lambda fraction: progress.report(95 + 4 * fraction))
    run, outcome = engine.stitch(
        job.bars, job.backtest, job.sweep, job.validation, windows, winners.rows, job.strategy_id
    )
    parts.remove()
    return run, outcome, workers


def help_with_windows(
    parts: SweepParts, job: WalkForwardJob, fan_out: FanOut, owner: ProgressRecorder
) -> None:
    """Train waiting windows until none is left; stops at once when the `owner` run's
    record says the validation was cancelled or given up on."""
    windows = job.windows()
    help_until_done(
        parts,
        fan_out,
        owner,
        lambda part, me, report: _train(parts, part, job, windows, me, fan_out, report),
    )


def _train(
    parts: SweepParts,
    part: Part,
    job: WalkForwardJob,
    windows: list[WindowSpan],
    me: str,
    fan_out: FanOut,
    on_progress: ProgressCallback,
) -> None:
    """Train the part's window, beating the part as it goes, and store its winner."""
    engine = BacktestEngine(beating(parts, part, me, fan_out, on_progress))
    winner = engine.train_window(job.bars, job.backtest, job.sweep, windows[part.indices.start])
    parts.store(part, me, winner)
