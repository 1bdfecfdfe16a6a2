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
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from types import TracebackType
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
from backend_services.services.backtest.execution.records import (
    EXECUTIONS_COLLECTION,
    Claim,
    RunRecord,
    stored_status,
)
from backend_services.services.backtest.execution.run_metrics import (
    QUEUE_WAIT_SECONDS,
    RUN_SECONDS,
    RUNS_ENDED,
    RUNS_STARTED,
)
from backend_services.services.backtest.execution.series import load_series
from backend_services.services.backtest.execution.trade_store import (
    TRADES_COLLECTION,
    write_trades,
)
from shared.contracts.backtests import ResolvedBacktest
from shared.contracts.common import utc_now
from shared.contracts.executions import ExecutionStatus, RunBacktestRequest
from shared.contracts.sweeps import Optimization
from shared.logs import backtest_id as log_backtest_id
from shared.logs import execution_id as log_execution_id
from shared.logs import request_id as log_request_id
from shared.market_data.bars import MarketDataError
from shared.mongo import Document, sync_client

logger = logging.getLogger(__name__)

T = TypeVar("T")
PROGRESS_WRITE_INTERVAL_S = 0.25
OUTCOME_WRITE_DEADLINE_S = 120.0
WORKER_NICENESS = 10


class _WorkerContext:
    database: Database[Document] | None = None
    heartbeat_interval_s = 1.0
    cache = BarsCache(0)


class ExecutionCancelled(Exception):
    """The record stopped being `running` under this run while the work was under way."""


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
            QUEUE_WAIT_SECONDS.observe(_seconds_since(claim.submitted_at))
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
            run, optimization = _backtest(database, request, progress)
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
        except (MarketDataError, ValidationError) as error:
            finish = partial(record.fail, str(error))
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


def _seconds_since(moment: datetime) -> float:
    if moment.tzinfo is None:  # stored without its zone: MongoDB keeps UTC
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (utc_now() - moment).total_seconds())


def execution_status(execution_id: str) -> ExecutionStatus | None:
    return stored_status(_worker_database()[EXECUTIONS_COLLECTION], execution_id)


def _worker_database() -> Database[Document]:
    database = _WorkerContext.database
    if database is None:
        raise RuntimeError("init_worker() must run in this process first")
    return database


def worker_name() -> str:
    """host:pid of this process, written on the runs it claims."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Heartbeat:
    """A thread refreshing the record's heartbeat every `interval_s`; sets `cancelled`
    once the record is no longer running under this run."""

    def __init__(self, record: RunRecord, interval_s: float):
        self.cancelled = threading.Event()
        self._record = record
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                still_running = self._record.beat()
            except ConnectionFailure as error:
                logger.warning("heartbeat missed: %r", error)
                continue
            if not still_running:
                self.cancelled.set()
                return


class ProgressRecorder:
    """Writes a never-decreasing progress percentage to the record, at most every
    PROGRESS_WRITE_INTERVAL_S, and raises ExecutionCancelled once the run was cancelled.
    A write that fails for want of MongoDB is skipped: progress is not worth stopping for.
    """

    def __init__(self, record: RunRecord, cancelled: threading.Event) -> None:
        self._record = record
        self._cancelled = cancelled
        self._last_write = 0.0

    def report(self, percent: float) -> None:
        if self._cancelled.is_set():
            raise ExecutionCancelled(self._record.execution_id)
        now = time.monotonic()
        if now - self._last_write < PROGRESS_WRITE_INTERVAL_S:
            return
        self._last_write = now
        try:
            still_running = self._record.record_progress(round(min(percent, 99.0), 1))
        except ConnectionFailure as error:
            logger.warning("progress not recorded: %r", error)
            return
        if not still_running:
            raise ExecutionCancelled(self._record.execution_id)


def _backtest(
    database: Database[Document], request: RunBacktestRequest, progress: ProgressRecorder
) -> tuple[BacktestRun, Optimization | None]:
    """The run, its result marked with the data version it read, and for a sweep the
    ranking (the run is then the best combination's)."""
    backtest = ResolvedBacktest.resolve(request.strategy, request.params)
    progress.report(1)
    series = load_series(
        database,
        _WorkerContext.cache,
        backtest.symbol,
        backtest.timeframe,
        request.data_version,
        on_bucket=lambda fraction: progress.report(2 + 48 * fraction),
    )
    bars = series.bars.between(
        int(backtest.start_date.timestamp()), int(backtest.end_date.timestamp())
    )

    def on_progress(fraction: float) -> None:
        progress.report(50 + 49 * fraction)

    engine = BacktestEngine(on_progress)
    optimization = None
    if request.sweep is None:
        run = engine.run(bars, backtest, request.strategy.id)
    else:
        run, optimization = engine.optimize(bars, backtest, request.sweep, request.strategy.id)
    result = run.result.model_copy(update={"data_version": series.version})
    return replace(run, result=result), optimization


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
