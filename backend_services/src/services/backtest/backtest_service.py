"""BacktestService: the lifecycle of an execution, from request to delivered result.

    submit -> record written (queued) -> worker pool -> worker claims it (running),
    heartbeats, writes progress, stores the outcome (completed | failed) -> delivered

A cancel moves the record to cancelled; the worker notices within a second and stops.
A run that ends without a final state (its worker process died) or whose heartbeat goes
stale (the whole service died) is queued again until `max_attempts` runs have started,
then failed with the reason. `supervise()` sweeps for stale runs and undelivered
outcomes; `recover()` does the same once at start-up and re-queues what was queued.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from datetime import datetime, timedelta

import httpx
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from backend_services.config import Settings
from backend_services.services.backtest.execution.delivered_marks import WRITE_EVERY_S
from backend_services.services.backtest.execution.delivery import ResultDelivery
from backend_services.services.backtest.execution.job import init_worker, run_execution
from backend_services.services.backtest.execution.records import (
    EXECUTIONS_COLLECTION,
    ExecutionAlreadyFinished,
    ExecutionRecords,
)
from backend_services.services.backtest.execution.scheduling import WaitingRun
from backend_services.services.backtest.execution.trade_store import (
    TRADES_COLLECTION,
    ensure_trade_indexes,
    inline_page,
    read_trades,
)
from backend_services.services.backtest.execution.worker_pool import (
    PoolState,
    ProcessWorkerPool,
    RunEnded,
    WorkerLost,
    WorkerPool,
)
from shared.contracts.common import utc_now
from shared.contracts.executions import BacktestExecution, RunBacktestRequest
from shared.contracts.lifecycle import BacktestStatus
from shared.contracts.results import TradePage
from shared.mongo import Document

__all__ = ["BacktestService", "PoolState"]

logger = logging.getLogger(__name__)

RETRY_QUEUED_AFTER_S = 1.0
# The compute service's own note of the upgrades it made to what it stored.
RULE_UPGRADES_COLLECTION = "compute_rule_upgrades"


class BacktestService:
    def __init__(
        self,
        store: ExecutionRecords,
        trades: AsyncCollection[Document],
        delivery: ResultDelivery,
        max_attempts: int,
        heartbeat_timeout_s: float,
    ) -> None:
        self._store = store
        self._trades = trades
        self._delivery = delivery
        self._max_attempts = max_attempts
        self._heartbeat_timeout = timedelta(seconds=heartbeat_timeout_s)
        self._pool: WorkerPool | None = None
        self._undelivered: set[str] = set()

    @classmethod
    async def start(
        cls, database: AsyncDatabase[Document], http: httpx.AsyncClient, settings: Settings
    ) -> BacktestService:
        """The service over `database`, its worker pool started and what a previous
        instance left behind recovered; results are delivered through `http`."""
        records = ExecutionRecords(database[EXECUTIONS_COLLECTION])
        await records.ensure_indexes()
        await records.upgrade_rules(database[RULE_UPGRADES_COLLECTION])
        trades = database[TRADES_COLLECTION]
        await ensure_trade_indexes(trades)
        delivery = ResultDelivery(records, http, max_delay_s=settings.delivery_max_delay_s)
        service = cls(
            records, trades, delivery, settings.max_attempts, settings.heartbeat_timeout_s
        )
        service.attach_pool(_deployment_pool(settings, records, service.on_run_ended))
        await service.recover()
        return service

    async def close(self) -> None:
        """Stop the workers and the deliveries under way."""
        if self._pool is not None:
            await self._pool.close()
        await self._delivery.close()

    def attach_pool(self, pool: WorkerPool) -> None:
        """The pool calls back into the service, so it is attached after both exist."""
        self._pool = pool

    async def submit(self, request: RunBacktestRequest) -> BacktestExecution:
        """The execution for `request.backtest_id`: a new one queued, or the existing one."""
        execution, created = await self._store.create(request)
        if created:
            self._worker_pool.submit(
                WaitingRun(execution.id, execution.user_id, request.priority, execution.created_at)
            )
        return execution

    async def get(self, execution_id: str) -> BacktestExecution:
        return await self._store.get(execution_id)

    async def trades(self, execution_id: str, offset: int, limit: int) -> TradePage:
        """A page of a completed execution's trades; raises if unknown or not completed."""
        run_id, result = await self._store.completed_run(execution_id)
        page = inline_page(result, offset, limit)
        if page is None:
            page = await read_trades(self._trades, execution_id, run_id, offset, limit)
        return TradePage(total=int(result["total_trades"]), offset=offset, trades=page)

    async def cancel(self, execution_id: str) -> BacktestExecution:
        """Cancel a queued or running execution; raises if unknown or already finished."""
        execution = await self._store.cancel(execution_id)
        self._delivery.deliver(execution.id)
        return execution

    async def remove(self, execution_id: str) -> None:
        """Delete a finished execution with its trades; raises if unknown or still live.
        The trades go first: a failure part-way leaves the record, so the call can be
        repeated, never trades that nothing names."""
        await self._store.require_final(execution_id)
        await self._trades.delete_many({"execution_id": execution_id})
        await self._store.remove_final(execution_id)

    async def queued_by_priority(self) -> dict[int, int]:
        return await self._store.queued_by_priority()

    def pool_state(self) -> PoolState | None:
        return self._pool.state() if self._pool else None

    async def recover(self) -> None:
        """At start-up: queue what was queued (the queue lived in a process now gone),
        re-run stale runs, deliver every undelivered outcome."""
        for run in await self._store.queued():
            self._worker_pool.submit(run)
        await self._sweep(include_refused=True)

    async def supervise(self, interval_s: float) -> None:
        """Sweep every `interval_s` until cancelled."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self._sweep(include_refused=False)
            except Exception:
                logger.exception("supervision sweep failed; trying again next time")

    async def on_run_ended(self, execution_id: str, error: Exception | None) -> None:
        """Called by the pool after a run that may have left something to do: a final
        state its worker could not push, or, when the run failed (`error`), no final
        state at all. A run that ended without error while the record is live lost it
        to another run (it was taken over): that one is left alone."""
        status, attempts, delivered = await self._store.outcome_of(execution_id)
        if status.is_final:
            if delivered:
                return
            if error is None:  # its worker may still be pushing it: the next sweep's,
                # once the acknowledgement, if it came, had time to be noted.
                asyncio.get_running_loop().call_later(
                    2 * WRITE_EVERY_S, self._undelivered.add, execution_id
                )
            else:
                self._delivery.deliver(execution_id)
            return
        if error is None:
            return
        if status is BacktestStatus.QUEUED:
            # Never claimed (the worker could not reach MongoDB, say): try again shortly.
            await asyncio.sleep(RETRY_QUEUED_AFTER_S)
            await self._submit_again(execution_id)
            return
        reason = str(error) if isinstance(error, WorkerLost) else "the worker stopped early"
        await self._retry_or_fail(execution_id, attempts, reason)

    async def _sweep(self, include_refused: bool) -> None:
        stale_before = utc_now() - self._heartbeat_timeout
        for execution_id, attempts in await self._store.stale_running(stale_before):
            await self._retry_or_fail(
                execution_id, attempts, "its worker stopped sending heartbeats", stale_before
            )
        undelivered = await self._store.undelivered_ids(include_refused)
        # A worker pushes the final state it stored itself: one still undelivered a
        # sweep later is this service's to deliver (at start-up, every one is).
        due = undelivered if include_refused else self._undelivered & set(undelivered)
        self._undelivered = set(undelivered)
        for execution_id in due:
            self._delivery.deliver(execution_id)

    async def _retry_or_fail(
        self,
        execution_id: str,
        attempts: int,
        reason: str,
        stale_before: datetime | None = None,
    ) -> None:
        if attempts < self._max_attempts:
            if await self._store.requeue(execution_id, stale_before):
                logger.warning("queueing %s again: %s", execution_id, reason)
                await self._submit_again(execution_id)
            return
        logger.error("giving up on %s after %d attempts: %s", execution_id, attempts, reason)
        with contextlib.suppress(ExecutionAlreadyFinished):  # cancelled meanwhile
            await self._store.fail(execution_id, f"{reason}; gave up after {attempts} attempts")
        self._delivery.deliver(execution_id)

    async def _submit_again(self, execution_id: str) -> None:
        run = await self._store.waiting_run(execution_id)
        if run is not None:
            self._worker_pool.submit(run)

    @property
    def _worker_pool(self) -> WorkerPool:
        if self._pool is None:
            raise RuntimeError("attach_pool() first")
        return self._pool


def _deployment_pool(
    settings: Settings, records: ExecutionRecords, on_run_ended: RunEnded
) -> WorkerPool:
    """The deployment's pool: this service's own processes, or the Celery fleet."""
    if settings.executor == "celery":
        # Imported here: the default deployment never loads Celery.
        from backend_services.services.backtest.execution.fleet import fleet_app
        from backend_services.services.backtest.execution.fleet_pool import FleetWorkerPool

        return FleetWorkerPool(
            fleet_app(settings), settings.fleet_queue, records, settings.fair_share, on_run_ended
        )
    return ProcessWorkerPool(
        workers=settings.workers,
        job=run_execution,
        initializer=init_worker,
        initargs=(
            settings.mongo_url,
            settings.mongo_db,
            settings.heartbeat_interval_s,
            settings.market_data_cache_mb << 20,
            os.getpid(),
            settings.api_service_url,
            settings.service_secret,
            settings.market_data_files_dir,
        ),
        on_run_ended=on_run_ended,
        fair_share=settings.fair_share,
    )
