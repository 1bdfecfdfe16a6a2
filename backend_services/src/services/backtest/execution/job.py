"""What a worker process does with one execution.

It claims the execution (queued -> running, with a fresh `run_id`), loads and resamples
the bars, runs the engine, stores every trade in chunks (`trade_store`) and the outcome,
with the first trades, in the execution record, all through a synchronous MongoDB
client of its own. What happens is pushed to the API as it happens (`api_push`): the
claim and the progress in the background, the final state once stored, from the
outcome in hand. Every write it makes is fenced by its `run_id`,
so a run that was given up on (its heartbeat went stale and the execution was queued
again) can never overwrite the state of the run that replaced it.

While it runs, a thread refreshes the record's `heartbeat_at` (and stores the progress);
the service re-runs executions whose heartbeat went stale. The same thread notices a
cancel (the record no longer running under this `run_id`), and the run stops.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from enum import Enum
from functools import partial
from pathlib import Path
from typing import TypeVar

from pydantic import ValidationError
from pymongo.database import Database
from pymongo.errors import ConnectionFailure

from backend_services.child_processes import bind_to_parent
from backend_services.market_data.bar_files import BarFiles
from backend_services.services.backtest.backtest_engine import (
    BacktestEngine,
    BacktestRun,
    warm_up,
)
from backend_services.services.backtest.execution.api_push import ApiPush
from backend_services.services.backtest.execution.bars_cache import BarsCache
from backend_services.services.backtest.execution.delivered_marks import DeliveredMarks
from backend_services.services.backtest.execution.fanned_sweep import (
    FanOut,
    SweepJob,
    help_with_parts,
    run_owned_sweep,
)
from backend_services.services.backtest.execution.fanned_windows import (
    WalkForwardJob,
    help_with_windows,
    run_walk_forward,
)
from backend_services.services.backtest.execution.portfolio_run import run_portfolio_backtest
from backend_services.services.backtest.execution.records import (
    EXECUTIONS_COLLECTION,
    Claim,
    RunRecord,
    stored_status,
)
from backend_services.services.backtest.execution.run_liveness import (
    ExecutionCancelled,
    Heartbeat,
    ProgressRecorder,
    worker_name,
)
from backend_services.services.backtest.execution.run_metrics import (
    QUEUE_WAIT_SECONDS,
    RUN_SECONDS,
    RUNS_ENDED,
    RUNS_STARTED,
)
from backend_services.services.backtest.execution.search import optuna_search
from backend_services.services.backtest.execution.series import Series, load_series
from backend_services.services.backtest.execution.sweep_parts import PARTS_COLLECTION, SweepParts
from backend_services.services.backtest.execution.trade_store import (
    TRADES_COLLECTION,
    write_trades,
)
from backend_services.services.backtest.execution.worker_heap import keep_freed_memory
from shared.contracts.backtests import ResolvedBacktest
from shared.contracts.common import utc_now
from shared.contracts.executions import (
    ExecutionReport,
    ExecutionUpdate,
    PackedResult,
    RunBacktestRequest,
)
from shared.contracts.lifecycle import BacktestStatus
from shared.contracts.sweeps import Optimization
from shared.contracts.validation import WalkForward
from shared.errors import invalid_in_words
from shared.logs import backtest_id as log_backtest_id
from shared.logs import execution_id as log_execution_id
from shared.logs import request_id as log_request_id
from shared.market_data.bars import MarketDataError
from shared.mongo import Document, sync_client

logger = logging.getLogger(__name__)

T = TypeVar("T")
OUTCOME_WRITE_DEADLINE_S = 120.0
WORKER_NICENESS = 10


class _WorkerContext:
    database: Database[Document] | None = None
    heartbeat_interval_s = 1.0
    cache = BarsCache(0)
    fan_out: FanOut | None = None  # a fleet worker's way of splitting sweeps
    push: ApiPush | None = None
    delivered: DeliveredMarks | None = None
    files: BarFiles | None = None


class RunOutcome(Enum):
    NOT_CLAIMED = "not claimed"
    ENDED = "ended"  # delivering its final state, if it has one, is left to the service
    # Its final state is stored and being pushed; a push that fails is left to the
    # service's sweep of undelivered executions.
    PUSHED = "pushed"


def fan_sweeps_out(fan_out: FanOut) -> None:
    """In a fleet worker's process, after `init_worker`: split large sweeps into parts."""
    _WorkerContext.fan_out = fan_out


def init_worker(
    mongo_url: str,
    mongo_db: str,
    heartbeat_interval_s: float,
    cache_bytes: int,
    service: int,
    api_url: str,
    service_secret: str,
    files_dir: str = "",
) -> None:
    """Process-pool initializer: one MongoDB client and one bars cache per worker
    process, and a lower CPU priority, so that when backtests keep every core busy the
    services' event loops (and MongoDB) still get the CPU at once and the API stays
    responsive. Freed memory is kept for the next run (`worker_heap`), and the engine's
    compiled loops are readied before the first backtest.
    `service` is the pid of the service that started the pool (it dies with it); runs
    are pushed to the API at `api_url`, signed with `service_secret`; bars are mapped
    from this machine's files in `files_dir` when it holds them (none when empty)."""
    bind_to_parent(service, niceness=WORKER_NICENESS)
    if not keep_freed_memory():
        logger.info("malloc left as it is: freed memory tuning is for glibc only")
    _WorkerContext.database = sync_client(mongo_url)[mongo_db]
    _WorkerContext.push = ApiPush(api_url, service_secret)
    _WorkerContext.delivered = DeliveredMarks(_WorkerContext.database[EXECUTIONS_COLLECTION])
    _WorkerContext.files = BarFiles(Path(files_dir)) if files_dir else None
    _WorkerContext.heartbeat_interval_s = heartbeat_interval_s
    _WorkerContext.cache = BarsCache(cache_bytes)
    warm_up()


def run_execution(execution_id: str) -> bool:
    """Run one queued execution to a final state; True when the service has nothing
    left to do (that state is stored and being pushed to the API, or the execution was
    not there to claim), False when its outcome is left to the service."""
    return run_claimed(execution_id) is not RunOutcome.ENDED


def run_claimed(
    execution_id: str, stale_before: datetime | None = None, max_attempts: int | None = None
) -> RunOutcome:
    """Claim the execution (see `RunRecord.claim`) and run it to a final state. A dead
    run that has used its `max_attempts` is failed with the reason instead of run again
    (never claimed, so it never shows running again)."""
    database = _worker_database()
    executions = database[EXECUTIONS_COLLECTION]
    claim = RunRecord.claim(executions, execution_id, worker_name(), stale_before, max_attempts)
    if claim is None:
        if stale_before is None or max_attempts is None:
            return RunOutcome.NOT_CLAIMED
        given_up = RunRecord.give_up(executions, execution_id, stale_before, max_attempts)
        if given_up is None:
            return RunOutcome.NOT_CLAIMED
        request, reason, given_up_at = given_up
        report = ExecutionReport(
            execution_id=execution_id,
            backtest_id=request["backtest_id"],
            status=BacktestStatus.FAILED,
            end_time=given_up_at,
            error=reason,
        )
        logger.error("giving up on %s: %s", execution_id, reason)
        return _push_final(report, request.get("request_id"))
    _push_live(claim, 0.0)
    with _logged_for(execution_id, claim.request_fields):
        started = time.monotonic()
        RUNS_STARTED.inc()
        if claim.attempt == 1:
            waited = (utc_now() - claim.submitted_at).total_seconds()
            QUEUE_WAIT_SECONDS.observe(max(0.0, waited))
        logger.info("run %d of %s started on %s", claim.attempt, execution_id, worker_name())
        status, ended = _run_to_the_end(database, claim)
        RUNS_ENDED.labels(status.value).inc()
        RUN_SECONDS.observe(time.monotonic() - started)
        logger.info("run %d of %s ended %s", claim.attempt, execution_id, status.value)
        if ended is None:
            return RunOutcome.ENDED
        return _push_final(ended, claim.request_fields.get("request_id"))


def _run_to_the_end(
    database: Database[Document], claim: Claim
) -> tuple[BacktestStatus, ExecutionReport | None]:
    """The claimed run, to the final state it ends in, and the report of that state
    once stored (None when it was cancelled, or given up on meanwhile)."""
    record, execution_id = claim.record, claim.record.execution_id
    report = partial(
        ExecutionReport, execution_id=execution_id, backtest_id=claim.request_fields["backtest_id"]
    )
    stages: dict[str, datetime] = {}
    result: PackedResult | None = None
    optimization: Optimization | None = None
    walk_forward: WalkForward | None = None
    reason: str | None = None
    with Heartbeat(record, _WorkerContext.heartbeat_interval_s) as heartbeat:
        progress = ProgressRecorder(heartbeat, partial(_push_live, claim))
        try:
            request = RunBacktestRequest.model_validate(claim.request_fields)
            run, optimization, walk_forward = _backtest(database, request, progress, record, stages)
            write_trades(
                database[TRADES_COLLECTION],
                execution_id,
                record.run_id,
                run.trades,
                first_run=claim.attempt == 1,
            )
            stages["trades_stored"] = utc_now()
            result = PackedResult.of(run.result)
            finish = partial(record.complete, result, optimization, stages, walk_forward)
        except ExecutionCancelled:
            return BacktestStatus.CANCELLED, None
        except ConnectionFailure:
            # Transient: the record stays running; the service queues the run again.
            raise
        except MarketDataError as error:
            reason = str(error)
            finish = partial(record.fail, reason, stages)
        except ValidationError as error:
            reason = invalid_in_words(error)
            finish = partial(record.fail, reason, stages)
        except Exception as error:
            logger.exception("execution %s failed", execution_id)
            reason = f"internal error: {type(error).__name__}"
            finish = partial(record.fail, reason, stages)
    ended = _retry_while_disconnected(finish)
    status = BacktestStatus.COMPLETED if result is not None else BacktestStatus.FAILED
    if ended is None:
        return status, None
    return status, report(
        status=status,
        end_time=ended,
        packed_result=result,
        optimization=optimization,
        walk_forward=walk_forward,
        error=reason,
    )


def _push_final(report: ExecutionReport, request_id: str | None) -> RunOutcome:
    """Push a stored final state; its acknowledgement is noted with others (see
    `delivered_marks`)."""
    push, delivered = _WorkerContext.push, _WorkerContext.delivered
    if push is None or delivered is None:
        return RunOutcome.ENDED
    push.deliver(report, request_id, lambda: delivered.note(report.execution_id, utc_now()))
    return RunOutcome.PUSHED


def _push_live(claim: Claim, progress: float) -> None:
    """Push the run's state (running, at `progress` percent) to the API."""
    if _WorkerContext.push is not None:
        _WorkerContext.push.update(
            ExecutionUpdate(
                backtest_id=claim.request_fields["backtest_id"],
                execution_id=claim.record.execution_id,
                status=BacktestStatus.RUNNING,
                progress=progress,
            )
        )


@contextmanager
def _logged_for(execution_id: str, request_fields: Document) -> Iterator[None]:
    """Every log line of the run names the execution, its backtest and the member's
    request that started it."""
    tokens = [
        (log_execution_id, log_execution_id.set(execution_id)),
        (log_backtest_id, log_backtest_id.set(request_fields.get("backtest_id"))),
        (log_request_id, log_request_id.set(request_fields.get("request_id"))),
    ]
    try:
        yield
    finally:
        for variable, token in reversed(tokens):
            variable.reset(token)


def execution_status(execution_id: str) -> BacktestStatus | None:
    return stored_status(_worker_database()[EXECUTIONS_COLLECTION], execution_id)


def _worker_database() -> Database[Document]:
    database = _WorkerContext.database
    if database is None:
        raise RuntimeError("init_worker() must run in this process first")
    return database


def _backtest(
    database: Database[Document],
    request: RunBacktestRequest,
    progress: ProgressRecorder,
    record: RunRecord,
    stages: dict[str, datetime],
) -> tuple[BacktestRun, Optimization | None, WalkForward | None]:
    """The run, its result marked with the data version it read, and for a sweep the
    ranking (the run is then the best combination's), or its walk-forward validation
    (the run is then the stitched out-of-sample one); the times its bars were loaded
    and the engine was done go to `stages`."""
    backtest = ResolvedBacktest.resolve(request.strategy, request.params)
    progress.report(1)
    if request.params.portfolio is not None:
        context = _WorkerContext
        run = run_portfolio_backtest(
            database,
            context.cache,
            context.files,
            backtest,
            request.params.portfolio,
            request.strategy.id,
            progress,
            stages,
        )
        return run, None, None
    series = _series_of(database, request, backtest, lambda f: progress.report(2 + 48 * f))
    stages["bars_loaded"] = utc_now()
    bars = series.bars.between(
        int(backtest.start_date.timestamp()), int(backtest.end_date.timestamp())
    )

    def on_progress(fraction: float) -> None:
        progress.report(50 + 49 * fraction)

    engine = BacktestEngine(on_progress)
    optimization, walk_forward = None, None
    fan_out = _WorkerContext.fan_out
    if request.sweep is None:
        run = engine.run(bars, backtest, request.strategy.id)
    elif request.validation is not None:
        validation = WalkForwardJob(
            bars, backtest, request.sweep, request.validation, request.strategy.id
        )
        run, walk_forward, workers = run_walk_forward(
            database, validation, record.execution_id, record.run_id, progress, fan_out
        )
        if workers:
            record.note_part_workers(workers)
    elif request.sweep.method != "grid":  # sequential: run here, not fanned out
        sweep, strategy_id = request.sweep, request.strategy.id
        run, optimization = engine.search(bars, backtest, sweep, strategy_id, optuna_search)
    elif fan_out and len(request.sweep.combinations(backtest.parameters)) > fan_out.part_size:
        job = SweepJob(bars, backtest, request.sweep, request.strategy.id)
        run, optimization, workers = run_owned_sweep(
            database, job, record.execution_id, record.run_id, progress, fan_out
        )
        record.note_part_workers(workers)
    else:
        run, optimization = engine.optimize(bars, backtest, request.sweep, request.strategy.id)
    stages["engine_done"] = utc_now()
    result = run.result.model_copy(update={"data_version": series.version})
    return replace(run, result=result), optimization, walk_forward


def help_sweep(execution_id: str, run_id: str) -> None:
    """A fleet worker's help with the parts of a sweep another worker's run owns (see
    `sweep_parts`); returns when no part is left, or the sweep is over."""
    database, fan_out = _worker_database(), _WorkerContext.fan_out
    if fan_out is None:
        raise RuntimeError("fan_sweeps_out() must run in this process first")
    executions = database[EXECUTIONS_COLLECTION]
    owner = RunRecord(executions, execution_id, run_id)
    document = owner.request_while_running()
    if document is None:
        return
    with (
        _logged_for(execution_id, document),
        Heartbeat(owner, _WorkerContext.heartbeat_interval_s) as heartbeat,
    ):
        request = RunBacktestRequest.model_validate(document)
        if request.sweep is None:
            return
        backtest = ResolvedBacktest.resolve(request.strategy, request.params)
        bars = _series_of(database, request, backtest, lambda f: None).bars.between(
            int(backtest.start_date.timestamp()), int(backtest.end_date.timestamp())
        )
        parts = SweepParts(database[PARTS_COLLECTION], execution_id, run_id)
        if request.validation is not None:
            validation = WalkForwardJob(
                bars, backtest, request.sweep, request.validation, request.strategy.id
            )
            help_with_windows(parts, validation, fan_out, ProgressRecorder(heartbeat))
            return
        job = SweepJob(bars, backtest, request.sweep, request.strategy.id)
        help_with_parts(parts, job, fan_out, ProgressRecorder(heartbeat))


def _series_of(
    database: Database[Document],
    request: RunBacktestRequest,
    backtest: ResolvedBacktest,
    on_bucket: Callable[[float], None],
) -> Series:
    return load_series(
        database,
        _WorkerContext.cache,
        backtest.symbol,
        backtest.timeframe,
        request.data_version,
        on_bucket=on_bucket,
        files=_WorkerContext.files,
    )


def _retry_while_disconnected(write: Callable[[], T]) -> T:
    """A computed outcome is worth waiting for: retry the write through a MongoDB outage
    of up to OUTCOME_WRITE_DEADLINE_S."""
    deadline = time.monotonic() + OUTCOME_WRITE_DEADLINE_S
    delay_s = 0.5
    while True:
        try:
            return write()
        except ConnectionFailure as error:
            if time.monotonic() > deadline:
                raise
            logger.warning("storing the outcome failed, retrying: %r", error)
            time.sleep(delay_s)
            delay_s = min(delay_s * 2, 5.0)
