"""Where executions run: the small interface BacktestService needs, and the embedded
implementation, a pool of worker processes.

The interface is deliberately narrow (submit a waiting execution, be told when its run
ended with something left to do, report state) and everything else goes through the
execution record: a worker claims the execution there, stores progress there, notices
a cancel there and stores the outcome there. The fleet deployment (`fleet_pool`, Celery
over RabbitMQ or Redis) implements the same interface, and BacktestService stays as it
is. Both start the runs `scheduling` chooses (priorities, then members in turn) as
worker slots free, so the embedded pool shares its workers between members as the
fleet does.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Protocol

from pydantic import BaseModel

from backend_services.services.backtest.execution.scheduling import (
    WaitingRun,
    member_cap,
    next_runs,
)

logger = logging.getLogger(__name__)

RunEnded = Callable[[str, Exception | None], Awaitable[None]]


class WorkerLost(RuntimeError):
    """The process running an execution died before the run ended."""


class PoolState(BaseModel):
    kind: str
    workers: int
    busy: int
    queued: int


class WorkerPool(Protocol):
    def submit(self, run: WaitingRun) -> None:
        """Queue an execution (its record is queued); priority 0 is the most urgent, 9
        the least."""

    def state(self) -> PoolState: ...

    async def close(self) -> None: ...


class ProcessWorkerPool:
    """`workers` processes, each running one execution at a time, started as
    `scheduling.next_runs` chooses among the waiting ones whenever a process is free; a
    member holds at most `fair_share` of them while another member's work waits.

    `job(execution_id)` runs in a worker process and returns True when its run left
    nothing to do (its final state reached the API); otherwise `on_run_ended(execution_id,
    error)` is awaited on the event loop after the run, with WorkerLost when the process
    died or the job's exception when it raised.
    """

    def __init__(
        self,
        workers: int,
        job: Callable[[str], bool],
        initializer: Callable[..., None],
        initargs: tuple[object, ...],
        on_run_ended: RunEnded,
        fair_share: float = 1.0,
    ) -> None:
        self._workers = workers
        self._job = job
        self._initializer = initializer
        self._initargs = initargs
        self._on_run_ended = on_run_ended
        self._cap = member_cap(workers, fair_share)
        self._waiting: list[WaitingRun] = []
        self._held: Counter[str] = Counter()  # runs in the processes, by member
        self._last_served: dict[str, float] = {}
        self._runs: set[asyncio.Task[None]] = set()
        self._executor = self._new_executor()

    def submit(self, run: WaitingRun) -> None:
        self._waiting.append(run)
        self._start_what_fits()

    def state(self) -> PoolState:
        return PoolState(
            kind="process",
            workers=self._workers,
            busy=self._held.total(),
            queued=len(self._waiting),
        )

    async def close(self) -> None:
        for run in self._runs:
            run.cancel()
        await asyncio.gather(*self._runs, return_exceptions=True)
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _start_what_fits(self) -> None:
        free = self._workers - self._held.total()
        for run in next_runs(self._waiting, self._held, free, self._cap, self._last_served):
            self._waiting.remove(run)
            self._held[run.user_id] += 1
            self._last_served[run.user_id] = time.monotonic()
            task = asyncio.create_task(self._run(run))
            self._runs.add(task)
            task.add_done_callback(self._runs.discard)

    async def _run(self, run: WaitingRun) -> None:
        loop = asyncio.get_running_loop()
        executor = self._executor
        error: Exception | None = None
        try:
            if await loop.run_in_executor(executor, self._job, run.execution_id):
                return
        except BrokenProcessPool:
            error = WorkerLost(f"worker process died while running {run.execution_id}")
            self._replace_broken(executor)
        except Exception as job_error:
            logger.exception("worker job for %s raised", run.execution_id)
            error = job_error
        finally:
            self._held[run.user_id] -= 1
            if self._held[run.user_id] <= 0:
                del self._held[run.user_id]
            self._start_what_fits()
        try:
            await self._on_run_ended(run.execution_id, error)
        except Exception:
            logger.exception("handling the end of %s failed", run.execution_id)

    def _replace_broken(self, broken: ProcessPoolExecutor) -> None:
        # Every run on the broken executor fails at once; only the first replaces it.
        if broken is self._executor:
            logger.error("a worker process died; starting a fresh pool")
            broken.shutdown(wait=False, cancel_futures=True)
            self._executor = self._new_executor()

    def _new_executor(self) -> ProcessPoolExecutor:
        # spawn, not fork: the parent runs an event loop and threads that must not be copied.
        return ProcessPoolExecutor(
            max_workers=self._workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=self._initializer,
            initargs=self._initargs,
        )
