"""The service's side of fleet mode: `WorkerPool` over Celery and RabbitMQ.

`submit` hands the execution to a publisher task, which publishes it (with publisher
confirms) from a thread, retrying while the broker is away: the record is already
stored as queued, so a broker outage delays a run and loses none. The runs end on other
machines; a watcher reads which of the executions this service submitted have reached a
final state (one query every WATCH_INTERVAL_S) and reports each as ended, so delivery
follows within that interval. What another instance submitted is delivered by the
supervision sweep.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from celery import Celery
from kombu import Connection

from backend_services.services.backtest.execution.fleet import RUN_TASK, amqp_priority
from backend_services.services.backtest.execution.worker_pool import PoolState, RunEnded

logger = logging.getLogger(__name__)

WATCH_INTERVAL_S = 0.5
# Queue depth and live workers are asked of the broker this often, not on every probe.
BROKER_STATE_INTERVAL_S = 5.0
PUBLISH_RETRY_MAX_S = 5.0

FinishedAmong = Callable[[list[str]], Awaitable[list[str]]]


class FleetWorkerPool:
    def __init__(
        self,
        app: Celery,
        queue: str,
        finished_among: FinishedAmong,
        on_run_ended: RunEnded,
    ) -> None:
        self._app = app
        self._queue = queue
        self._finished_among = finished_among
        self._on_run_ended = on_run_ended
        self._to_publish: asyncio.Queue[tuple[str, int]] = asyncio.Queue()
        self._watched: set[str] = set()
        self._queued = 0
        self._workers = 0
        self._tasks = [
            asyncio.create_task(self._publish()),
            asyncio.create_task(self._watch()),
            asyncio.create_task(self._read_broker_state()),
        ]

    def submit(self, execution_id: str, priority: int) -> None:
        self._watched.add(execution_id)
        self._to_publish.put_nowait((execution_id, priority))

    def state(self) -> PoolState:
        queued = self._queued + self._to_publish.qsize()
        # What this service submitted and has not seen end, less what still waits.
        busy = max(0, len(self._watched) - queued)
        return PoolState(kind="celery", workers=self._workers, busy=busy, queued=queued)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _publish(self) -> None:
        while True:
            execution_id, priority = await self._to_publish.get()
            delay_s = 0.25
            while True:
                try:
                    await asyncio.to_thread(self._send, execution_id, priority)
                    break
                except Exception as error:  # the broker away: the run waits, never lost
                    logger.warning("publishing %s failed, retrying: %r", execution_id, error)
                    await asyncio.sleep(delay_s)
                    delay_s = min(delay_s * 2, PUBLISH_RETRY_MAX_S)

    def _send(self, execution_id: str, priority: int) -> None:
        self._app.send_task(
            RUN_TASK,
            args=[execution_id],
            queue=self._queue,
            priority=amqp_priority(priority),
            retry=False,
        )

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(WATCH_INTERVAL_S)
            if not self._watched:
                continue
            try:
                finished = await self._finished_among(sorted(self._watched))
            except Exception:
                logger.exception("reading finished executions failed; trying again")
                continue
            for execution_id in finished:
                self._watched.discard(execution_id)
                try:
                    await self._on_run_ended(execution_id, None)
                except Exception:
                    logger.exception("handling the end of %s failed", execution_id)

    async def _read_broker_state(self) -> None:
        while True:
            try:
                self._queued, self._workers = await asyncio.to_thread(self._broker_state)
            except Exception as error:
                logger.warning("reading the broker's state failed: %r", error)
            await asyncio.sleep(BROKER_STATE_INTERVAL_S)

    def _broker_state(self) -> tuple[int, int]:
        """(messages waiting in the queue, workers that answer a ping)."""
        with Connection(self._app.conf.broker_url, connect_timeout=2) as connection:
            channel = connection.default_channel
            _, waiting, _ = channel.queue_declare(self._queue, passive=True)
        answers = self._app.control.ping(timeout=1.0) or []
        return int(waiting), len(answers)
