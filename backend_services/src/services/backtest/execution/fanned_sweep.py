"""Running a sweep's parts (`sweep_parts`): as the run that owns the sweep, or as a
helper the owner asked the fleet for."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from pymongo.database import Database

from backend_services.services.backtest.backtest_engine import (
    BacktestEngine,
    BacktestRun,
    ProgressCallback,
    SweepBatch,
)
from backend_services.services.backtest.execution.run_liveness import (
    ExecutionCancelled,
    ProgressRecorder,
    worker_name,
)
from backend_services.services.backtest.execution.sweep_parts import (
    PARTS_COLLECTION,
    AskForHelpers,
    Part,
    SweepParts,
)
from shared.contracts.backtests import ResolvedBacktest
from shared.contracts.common import utc_now
from shared.contracts.sweeps import Optimization, Sweep
from shared.market_data.bars import Bars
from shared.mongo import Document

__all__ = [
    "FanOut",
    "beating",
    "help_until_done",
    "help_with_parts",
    "run_owned_sweep",
    "work_owned_parts",
]

PART_POLL_S = 0.25

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FanOut:
    """How a fleet worker fans sweeps out: parts of `part_size` combinations, helpers
    asked for through `ask_for_helpers`, a part taken back when its worker has not
    beaten for `stale_after_s`."""

    ask_for_helpers: AskForHelpers
    part_size: int
    stale_after_s: float
    beat_interval_s: float


@dataclass(frozen=True, slots=True)
class SweepJob:
    bars: Bars
    backtest: ResolvedBacktest
    sweep: Sweep
    strategy_id: str


def run_owned_sweep(
    database: Database[Document],
    job: SweepJob,
    execution_id: str,
    run_id: str,
    progress: ProgressRecorder,
    fan_out: FanOut,
) -> tuple[BacktestRun, Optimization, list[str]]:
    """The sweep split into parts that any worker runs, this one included, merged
    once all are done; also the workers that ran parts. Progress: 50 to 95 % as
    combinations are done, then the merge."""
    parts = SweepParts(database[PARTS_COLLECTION], execution_id, run_id)
    total = len(job.sweep.combinations(job.backtest.parameters))
    count = parts.create(total, fan_out.part_size)
    fan_out.ask_for_helpers(execution_id, run_id, count - 1)
    batch, workers = work_owned_parts(
        parts,
        fan_out,
        total,
        progress,
        lambda part, me, report: _run_part(parts, part, job, me, fan_out, report),
    )
    engine = BacktestEngine(lambda fraction: progress.report(95 + 4 * fraction))
    run, optimization = engine.merge_sweep(
        job.bars, job.backtest, job.sweep, batch, job.strategy_id
    )
    parts.remove()
    return run, optimization, workers


def work_owned_parts(
    parts: SweepParts,
    fan_out: FanOut,
    total: int,
    progress: ProgressRecorder,
    run_part: Callable[[Part, str, ProgressCallback], None],
) -> tuple[SweepBatch, list[str]]:
    """The owner's side of the `parts` of `total` units it created: `run_part(part, this
    worker, progress)` for every part still waiting, then a wait for the helpers' until
    all are done; every part's rows and the workers that ran them. Progress: 50 to 95 %
    as units are done (a report raises once the run was cancelled)."""
    me = worker_name()

    def report(done: float) -> None:
        progress.report(50 + 45 * done / total)

    while True:
        part = parts.claim(me, utc_now() - timedelta(seconds=fan_out.stale_after_s))
        if part is not None:
            done_before, size = parts.combinations_done(), len(part.indices)
            run_part(part, me, partial(_within, report, done_before, size))
            continue
        if parts.all_done():
            break
        report(parts.combinations_done())
        time.sleep(PART_POLL_S)
    return parts.rows()


def help_with_parts(
    parts: SweepParts, job: SweepJob, fan_out: FanOut, owner: ProgressRecorder
) -> None:
    """Run waiting parts until none is left; stops at once when the `owner` run's
    record says the sweep was cancelled or given up on."""
    help_until_done(
        parts,
        fan_out,
        owner,
        lambda part, me, report: _run_part(parts, part, job, me, fan_out, report),
    )


def help_until_done(
    parts: SweepParts,
    fan_out: FanOut,
    owner: ProgressRecorder,
    run_part: Callable[[Part, str, ProgressCallback], None],
) -> None:
    """Claim waiting parts and `run_part(part, this worker, progress)` each, until none
    is left, or the `owner` run's record says the work was cancelled or given up on."""
    me = worker_name()
    while True:
        part = parts.claim(me, utc_now() - timedelta(seconds=fan_out.stale_after_s))
        if part is None:
            return
        try:
            run_part(part, me, lambda fraction: owner.check())
        except ExecutionCancelled:
            return


def _within(report: Callable[[float], None], done: int, size: int, fraction: float) -> None:
    """Progress through a part of `size` combinations, `done` done before it."""
    report(done + fraction * size)


def beating(
    parts: SweepParts, part: Part, me: str, fan_out: FanOut, on_progress: ProgressCallback
) -> ProgressCallback:
    """`on_progress`, which also beats the part at most every beat interval."""
    last_beat = time.monotonic()

    def report(fraction: float) -> None:
        nonlocal last_beat
        on_progress(fraction)
        if time.monotonic() - last_beat >= fan_out.beat_interval_s:
            parts.beat(part, me)
            last_beat = time.monotonic()

    return report


def _run_part(
    parts: SweepParts,
    part: Part,
    job: SweepJob,
    me: str,
    fan_out: FanOut,
    on_progress: ProgressCallback,
) -> None:
    started = time.monotonic()
    engine = BacktestEngine(beating(parts, part, me, fan_out, on_progress))
    batch = engine.sweep_part(job.bars, job.backtest, job.sweep, part.indices)
    computed = time.monotonic()
    parts.store(part, me, batch)
    logger.info(
        "part %d: %d combinations in %.2f s, stored in %.2f s",
        part.index,
        len(part.indices),
        computed - started,
        time.monotonic() - computed,
    )
