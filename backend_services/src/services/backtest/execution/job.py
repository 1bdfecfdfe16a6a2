"""What a worker process does with one execution.

It claims the execution (queued -> running, with a fresh `run_id`), loads and resamples
the bars, runs the engine, stores every trade in chunks (`trade_store`) and the outcome,
with the first trades, in the execution record, all through a synchronous MongoDB
client of its own. Every write it makes is fenced by its `run_id`,
so a run that was given up on (its heartbeat went stale and the execution was queued
again) can never overwrite the state of the run that replaced it.

While it runs, a thread refreshes the record's `heartbeat_at`; the service re-runs
executions whose heartbeat went stale. The same thread and every progress write notice
a cancel (the record no longer running under this `run_id`), and the run stops.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from functools import partial
from typing import TypeVar

from pydantic import ValidationError
from pymongo.database import Database
from pymongo.errors import ConnectionFailure

from backend_services.child_processes import bind_to_parent
from backend_services.services.backtest.backtest_engine import (
    BacktestEngine,
    BacktestRun,
    warm_up,
)
from backend_services.services.backtest.execution.bars_cache import BarsCache
from backend_services.services.backtest.execution.fanned_sweep import (
    FanOut,
    SweepJob,
    help_with_parts,
    run_owned_sweep,
)
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
from backend_services.services.backtest.execution.series import Series, load_series
from backend_services.services.backtest.execution.sweep_parts import PARTS_COLLECTION, SweepParts
from backend_services.services.backtest.execution.trade_store import (
    TRADES_COLLECTION,
    write_trades,
)
from shared.contracts.backtests import ResolvedBacktest
from shared.contracts.common import utc_now
from shared.contracts.executions import ExecutionStatus, RunBacktestRequest
from shared.contracts.sweeps import Optimization
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


def fan_sweeps_out(fan_out: FanOut) -> None:
    """In a fleet worker's process, after `init_worker`: split large sweeps into parts."""
    _WorkerContext.fan_out = fan_out


def init_worker(
    mongo_url: str, mongo_db: str, heartbeat_interval_s: float, cache_bytes: int, service: int
) -> None:
    """Process-pool initializer: one MongoDB client and one bars cache per worker
    process, and a lower CPU priority, so that when backtests keep every core busy the
    services' event loops (and MongoDB) still get the CPU at once and the API stays
    responsive. The engine's compiled loops are readied before the first backtest.
    `service` is the pid of the service that started the pool (it dies with it)."""
    bind_to_parent(service, niceness=WORKER_NICENESS)
    _WorkerContext.database = sync_client(mongo_url)[mongo_db]
    _WorkerContext.heartbeat_interval_s = heartbeat_interval_s
    _WorkerContext.cache = BarsCache(cache_bytes)
    warm_up()


def run_execution(execution_id: str) -> None:
    """Run one queued execution to a final state; returns quietly if it is not queued."""
    run_claimed(execution_id)


def run_claimed(
    execution_id: str, stale_before: datetime | None = None, max_attempts: int | None = None
) -> bool:
    """Claim the execution (see `RunRecord.claim`) and run it to a final state; False
    when there was nothing to claim. A run taken over from a dead one beyond its
    `max_attempts`-th attempt is failed with the reason instead of run again."""
    database = _worker_database()
    claim = RunRecord.claim(
        database[EXECUTIONS_COLLECTION], execution_id, worker_name(), stale_before
    )
    if claim is None:
        return False
    with _logged_for(execution_id, claim.request_fields):
        started = time.monotonic()
        RUNS_STARTED.inc()
        if claim.attempt == 1:
            waited = (utc_now() - claim.submitted_at).total_seconds()
            QUEUE_WAIT_SECONDS.observe(max(0.0, waited))
        logger.info("run %d of %s started on %s", claim.attempt, execution_id, worker_name())
        status = _run_to_the_end(database, claim, max_attempts)
        RUNS_ENDED.labels(status.value).inc()
        RUN_SECONDS.observe(time.monotonic() - started)
        logger.info("run %d of %s ended %s", claim.attempt, execution_id, status.value)
    return True


def _run_to_the_end(
    database: Database[Document], claim: Claim, max_attempts: int | None
) -> ExecutionStatus:
    """The claimed run, to the final state it ends in (and stores, unless cancelled)."""
    record, execution_id = claim.record, claim.record.execution_id
    if max_attempts is not None and claim.attempt > max_attempts:
        record.fail(
            f"its worker died while running it {claim.attempt - 1} times; "
            f"gave up after {max_attempts} attempts"
        )
        return ExecutionStatus.FAILED
    status = ExecutionStatus.FAILED
    with Heartbeat(record, _WorkerContext.heartbeat_interval_s) as heartbeat:
        progress = ProgressRecorder(record, heartbeat.cancelled)
        try:
            request = RunBacktestRequest.model_validate(claim.request_fields)
            run, optimization = _backtest(database, request, progress, record)
            write_trades(
                database[TRADES_COLLECTION],
                execution_id,
                record.run_id,
                run.trades,
                first_run=claim.attempt == 1,
            )
            finish: Callable[[], None] = partial(record.complete, run.result, optimization)
            status = ExecutionStatus.COMPLETED
        except ExecutionCancelled:
            return ExecutionStatus.CANCELLED
        except ConnectionFailure:
            # Transient: the record stays running; the service queues the run again.
            raise
        except MarketDataError as error:
            finish = partial(record.fail, str(error))
        except ValidationError as error:
            finish = partial(record.fail, invalid_in_words(error))
        except Exception as error:
            logger.exception("execution %s failed", execution_id)
            finish = partial(record.fail, f"internal error: {type(error).__name__}")
    _retry_while_disconnected(finish)
    return status


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


def execution_status(execution_id: str) -> ExecutionStatus | None:
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
) -> tuple[BacktestRun, Optimization | None]:
    """The run, its result marked with the data version it read, and for a sweep the
    ranking (the run is then the best combination's)."""
    backtest = ResolvedBacktest.resolve(request.strategy, request.params)
    progress.report(1)
    series = _series_of(database, request, backtest, lambda f: progress.report(2 + 48 * f))
    bars = series.bars.between(
        int(backtest.start_date.timestamp()), int(backtest.end_date.timestamp())
    )

    def on_progress(fraction: float) -> None:
        progress.report(50 + 49 * fraction)

    engine = BacktestEngine(on_progress)
    optimization = None
    fan_out = _WorkerContext.fan_out
    if request.sweep is None:
        run = engine.run(bars, backtest, request.strategy.id)
    elif fan_out and len(request.sweep.combinations(backtest.parameters)) > fan_out.part_size:
        job = SweepJob(bars, backtest, request.sweep, request.strategy.id)
        run, optimization, workers = run_owned_sweep(
            database, job, record.execution_id, record.run_id, progress, fan_out
        )
        record.note_part_workers(workers)
    else:
        run, optimization = engine.optimize(bars, backtest, request.sweep, request.strategy.id)
    result = run.result.model_copy(update={"data_version": series.version})
    return replace(run, result=result), optimization


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
        job = SweepJob(bars, backtest, request.sweep, request.strategy.id)
        parts = SweepParts(database[PARTS_COLLECTION], execution_id, run_id)
        help_with_parts(parts, job, fan_out, ProgressRecorder(owner, heartbeat.cancelled))


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
