"""Where executions run: the small interface BacktestService needs, and the embedded
implementation, a pool of worker processes fed from a priority queue.

The interface is deliberately narrow (submit an execution id with a priority, be told
when its run ended with something left to do, report state) and everything else goes
through the execution record: a worker claims the execution there, stores progress
there, notices a cancel there and stores the outcome there. The fleet deployment
(`fleet_pool`, Celery over RabbitMQ or Redis) implements the same interface, and BacktestService
stays as it is.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import multiprocessing
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Protocol

from pydantic import BaseModel

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
    def submit(self, execution_id: str, priority: int) -> None:
        """Queue an execution; 0 is the most urgent priority, 9 the least."""

    def state(self) -> PoolState: ...

    async def close(self) -> None: ...


class ProcessWorkerPool:
    """`workers` processes, each running one execution at a time.

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
    ) -> None:
        self._workers = workers
        self._job = job
        self._initializer = initializer
        self._initargs = initargs
        self._on_run_ended = on_run_ended
        self._queue: asyncio.PriorityQueue[tuple[int, int, str]] = asyncio.PriorityQueue()
        self._arrival = itertools.count()
        self._busy = 0
        self._executor = self._new_executor()
        self._consumers = [asyncio.create_task(self._consume()) for _ in range(workers)]

    def submit(self, execution_id: str, priority: int) -> None:
        self._queue.put_nowait((priority, next(self._arrival), execution_id))

    def state(self) -> PoolState:
        return PoolState(
            kind="process", workers=self._workers, busy=self._busy, queued=self._queue.qsize()
        )

    async def close(self) -> None:
        for consumer in self._consumers:
            consumer.cancel()
        await asyncio.gather(*self._consumers, return_exceptions=True)
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def _consume(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            _, _, execution_id = await self._queue.get()
            self._busy += 1
            executor = self._executor
            error: Exception | None = None
            try:
                if await loop.run_in_executor(executor, self._job, execution_id):
                    continue
            except BrokenProcessPool:
                error = WorkerLost(f"worker process died while running {execution_id}")
                self._replace_broken(executor)
            except Exception as job_error:
                logger.exception("worker job for %s raised", execution_id)
                error = job_error
            finally:
                self._busy -= 1
            try:
                await self._on_run_ended(execution_id, error)
            except Exception:
                logger.exception("handling the end of %s failed", execution_id)

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
