"""The service's side of fleet mode: `WorkerPool` over Celery and its broker.

The execution records are the queue: `submit` only wakes the dispatcher, which
publishes no more tasks than there are free worker slots (the workers' pool sizes, asked
of them every BROKER_STATE_INTERVAL_S), choosing which by `scheduling`
(priorities, then members in turn, a member's share capped while others wait). Each
publish is accepted by the broker and noted on the record (`dispatched_at`); one that
fails is forgotten and retried, so a broker outage delays runs and loses none. At start,
and when Redis restarts (`fleet_broker`), every queued execution is published again:
what was published before may be gone with the broker's restart, and a duplicate only
finds its execution claimed.

The runs end on other machines; a watcher reads which of the published executions have
reached a final state (one query every WATCH_INTERVAL_S) and reports each as ended, which
frees its slot for the next publish and starts its delivery.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from celery import Celery

from backend_services.services.backtest.execution.fleet import RUN_TASK
from backend_services.services.backtest.execution.fleet_broker import (
    broker_run_id,
    task_priority,
)
from backend_services.services.backtest.execution.records import ExecutionRecords
from backend_services.services.backtest.execution.scheduling import (
    WaitingRun,
    member_cap,
    next_runs,
)
from backend_services.services.backtest.execution.worker_pool import PoolState, RunEnded

logger = logging.getLogger(__name__)

DISPATCH_INTERVAL_S = 0.25
DISPATCH_RETRY_S = 2.0
WATCH_INTERVAL_S = 0.2
BROKER_STATE_INTERVAL_S = 2.0


class FleetWorkerPool:
    def __init__(
        self,
        app: Celery,
        queue: str,
        records: ExecutionRecords,
        fair_share: float,
        on_run_ended: RunEnded,
    ) -> None:
        self._app = app
        self._queue = queue
        self._records = records
        self._fair_share = fair_share
        self._on_run_ended = on_run_ended
        self._wake = asyncio.Event()
        self._published: set[str] = set()
        self._last_served: dict[str, float] = {}
        self._slots = 0
        self._workers = 0
        self._state = PoolState(kind="celery", workers=0, busy=0, queued=0)
        self._tasks = [
            asyncio.create_task(self._dispatch()),
            asyncio.create_task(self._watch()),
            asyncio.create_task(self._read_broker()),
        ]

    def submit(self, run: WaitingRun) -> None:
        """The record is queued already: look for a free slot now."""
        self._wake.set()

    def state(self) -> PoolState:
        return self._state

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _dispatch(self) -> None:
        await self._records.forget_dispatch()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), DISPATCH_INTERVAL_S)
            self._wake.clear()
            try:
                await self._fill_free_slots()
            except Exception:
                logger.exception("dispatching failed; trying again")
                await asyncio.sleep(DISPATCH_RETRY_S)

    async def _fill_free_slots(self) -> None:
        waiting = await self._records.waiting_to_dispatch()
        held = await self._records.slots_held()
        busy = sum(held.values())
        self._state = PoolState(
            kind="celery", workers=self._workers, busy=busy, queued=len(waiting)
        )
        # Before any worker has answered, one run at a time, so work starts at once.
        slots = max(self._slots, 1)
        cap = member_cap(slots, self._fair_share)
        for run in next_runs(waiting, held, slots - busy, cap, self._last_served):
            if not await self._records.mark_dispatched(run.execution_id):
                continue
            self._last_served[run.user_id] = time.monotonic()
            try:
                await asyncio.to_thread(self._send, run.execution_id, run.priority)
            except Exception as error:  # the broker away: the run waits, never lost
                logger.warning("publishing %s failed: %r", run.execution_id, error)
                await self._records.forget_dispatch(run.execution_id)
                return
            self._published.add(run.execution_id)

    def _send(self, execution_id: str, priority: int) -> None:
        self._app.send_task(
            RUN_TASK,
            args=[execution_id],
            queue=self._queue,
            priority=task_priority(self._app.conf.broker_url, priority),
            retry=False,
        )

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(WATCH_INTERVAL_S)
            if not self._published:
                continue
            try:
                finished = await self._records.finished_among(sorted(self._published))
            except Exception:
                logger.exception("reading finished executions failed; trying again")
                continue
            for execution_id in finished:
                self._published.discard(execution_id)
                self._wake.set()  # a slot is free
                try:
                    await self._on_run_ended(execution_id, None)
                except Exception:
                    logger.exception("handling the end of %s failed", execution_id)

    async def _read_broker(self) -> None:
        run_id: str | None = None
        while True:
            try:
                self._workers, self._slots = await asyncio.to_thread(self._worker_slots)
            except Exception as error:
                logger.warning("asking the workers their size failed: %r", error)
            try:
                now_run_id = await asyncio.to_thread(broker_run_id, self._app)
                if run_id is not None and now_run_id != run_id:
                    logger.warning("the broker restarted: publishing every queued execution again")
                    await self._records.forget_dispatch()
                    self._wake.set()
                run_id = now_run_id
            except Exception as error:
                logger.warning("reading the broker's run id failed: %r", error)
            await asyncio.sleep(BROKER_STATE_INTERVAL_S)

    def _worker_slots(self) -> tuple[int, int]:
        """(workers consuming this queue, the processes they run backtests in). Asked of
        the workers that answer: those of other queues on the same broker do not count."""
        consuming = self._app.control.inspect(timeout=1.0).active_queues() or {}
        ours = [
            worker
            for worker, queues in consuming.items()
            if any(queue["name"] == self._queue for queue in queues)
        ]
        if not ours:
            return 0, 0
        stats = self._app.control.inspect(destination=ours, timeout=1.0).stats() or {}
        slots = sum(int(worker["pool"]["max-concurrency"]) for worker in stats.values())
        return len(stats), slots
