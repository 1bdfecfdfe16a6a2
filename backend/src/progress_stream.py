"""Live progress of backtests, pushed to any number of subscribers (Server-Sent Events,
WebSocket) from one watcher per backtest.

A watcher reads the backtest the way a member's read does (the stored record, brought
in line with the compute service's execution while it is live) every `interval_s`, and
publishes a `ProgressEvent` whenever the status or progress moved; after the final
state it publishes once more and ends, and with it every subscription. However many
subscribe to a backtest, there is one watcher, so the compute service is asked once per
interval.

An event is a snapshot, not a change, and its id grows with the state (status first,
then progress, which never decreases): a subscriber resuming after event N needs only
the current state if its id is greater than N, whatever happened in between, even after
a restart of the API.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from pydantic import BaseModel, Field

from backend.backtests import BacktestStore
from backend.reconcile import reconcile
from backend.schemas import Backtest, BacktestStatus
from backend.services.backtest_client import BacktestServiceClient

__all__ = ["HEADLINE_STATISTICS", "ProgressEvent", "ProgressHub", "event_of"]

logger = logging.getLogger(__name__)

HEADLINE_STATISTICS = (
    "total_return",
    "cagr",
    "sharpe_ratio",
    "max_drawdown",
    "win_rate",
    "total_trades",
    "final_equity",
)
_STAGE = {
    BacktestStatus.PENDING: 0,
    BacktestStatus.QUEUED: 1,
    BacktestStatus.RUNNING: 2,
    BacktestStatus.COMPLETED: 3,
    BacktestStatus.FAILED: 3,
    BacktestStatus.CANCELLED: 3,
}
# Progress in tenths of a percent, so each stage spans ids 1,001 apart.
_STAGE_SPAN = 1_001


class ProgressEvent(BaseModel):
    """One state of a backtest, as subscribers receive it."""

    id: int = Field(description="Grows with the state: resume after it (Last-Event-ID).")
    backtest_id: str
    status: BacktestStatus
    progress: float
    eta_s: float | None = Field(
        description="Seconds left, estimated from the progress made since it started running."
    )
    final: bool = Field(description="The last event: the stream ends after it.")
    error: str | None = None
    statistics: dict[str, Any] | None = Field(
        default=None, description="The final state's headline statistics, once completed."
    )

    @property
    def kind(self) -> str:
        """The SSE event name: `final`, or `progress` while it runs."""
        return "final" if self.final else "progress"


def event_of(backtest: Backtest, eta_s: float | None = None) -> ProgressEvent:
    statistics = None
    if backtest.result is not None:
        statistics = {name: getattr(backtest.result, name) for name in HEADLINE_STATISTICS}
    return ProgressEvent(
        id=_STAGE[backtest.status] * _STAGE_SPAN + round(backtest.progress * 10),
        backtest_id=backtest.id,
        status=backtest.status,
        progress=backtest.progress,
        eta_s=None if backtest.status.is_final else eta_s,
        final=backtest.status.is_final,
        error=backtest.error,
        statistics=statistics,
    )


class _Eta:
    """Seconds left from the rate of progress since the run was first seen running."""

    def __init__(self) -> None:
        self._start: tuple[float, float] | None = None

    def estimate(self, backtest: Backtest) -> float | None:
        if backtest.status is not BacktestStatus.RUNNING:
            return None
        now = time.monotonic()
        if self._start is None:
            self._start = (now, backtest.progress)
            return None
        started_at, started_progress = self._start
        done = backtest.progress - started_progress
        if done <= 0:
            return None
        return round((now - started_at) * (100 - backtest.progress) / done, 1)


class _Watcher:
    def __init__(
        self,
        backtest: Backtest,
        user_id: str,
        read: Callable[[str, str], Any],
        interval_s: float,
    ) -> None:
        self.latest = event_of(backtest)
        self.subscribers: set[asyncio.Queue[ProgressEvent | None]] = set()
        self._backtest_id = backtest.id
        self._user_id = user_id
        self._read = read
        self._interval_s = interval_s
        self._eta = _Eta()
        self.ended = False

    async def run(self) -> None:
        """Until the final state, or until nobody listens."""
        try:
            while not self.latest.final:
                await asyncio.sleep(self._interval_s)
                if not self.subscribers:
                    return
                try:
                    backtest: Backtest | None = await self._read(self._user_id, self._backtest_id)
                except Exception:  # MongoDB or the compute service away: try again
                    logger.warning("watching %s failed; retrying", self._backtest_id, exc_info=True)
                    continue
                if backtest is None:  # deleted meanwhile
                    return
                event = event_of(backtest, self._eta.estimate(backtest))
                if event.id > self.latest.id:
                    self._publish(event)
        finally:
            self.ended = True
            for queue in self.subscribers:
                queue.put_nowait(None)

    def _publish(self, event: ProgressEvent) -> None:
        self.latest = event
        for queue in self.subscribers:
            queue.put_nowait(event)


class ProgressHub:
    """The watchers of the backtests someone is subscribed to."""

    def __init__(
        self, store: BacktestStore, client: BacktestServiceClient, interval_s: float
    ) -> None:
        self._store = store
        self._client = client
        self._interval_s = interval_s
        self._watchers: dict[str, _Watcher] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def watching(self) -> int:
        """How many backtests are watched now (one watcher each)."""
        return len(self._watchers)

    async def subscribe(
        self, backtest: Backtest, user_id: str, after: int | None = None
    ) -> AsyncIterator[ProgressEvent]:
        """The backtest's events from its current state on (or, resuming `after` an
        event id, from the first newer state), until the final one."""
        watcher = self._watcher(backtest, user_id)
        queue: asyncio.Queue[ProgressEvent | None] = asyncio.Queue()
        watcher.subscribers.add(queue)
        try:
            sent = after if after is not None else -1
            event: ProgressEvent | None = watcher.latest
            while event is not None:
                if event.id > sent:
                    sent = event.id
                    yield event
                if event.final:
                    return
                event = await queue.get()
        finally:
            watcher.subscribers.discard(queue)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _watcher(self, backtest: Backtest, user_id: str) -> _Watcher:
        watcher = self._watchers.get(backtest.id)
        if watcher is None or watcher.ended:
            watcher = _Watcher(backtest, user_id, self._read, self._interval_s)
            self._watchers[backtest.id] = watcher
            task = asyncio.create_task(watcher.run())
            self._tasks.add(task)
            task.add_done_callback(functools.partial(self._forget, backtest.id))
        return watcher

    def _forget(self, backtest_id: str, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if (watcher := self._watchers.get(backtest_id)) is not None and watcher.ended:
            del self._watchers[backtest_id]
        with contextlib.suppress(asyncio.CancelledError):
            if task.exception() is not None:
                logger.error("watcher of %s failed", backtest_id, exc_info=task.exception())

    async def _read(self, user_id: str, backtest_id: str) -> Backtest | None:
        backtest = await self._store.get(user_id, backtest_id)
        if backtest is not None and backtest.status.is_live and backtest.execution_id:
            await reconcile(self._store, self._client, backtest.id, backtest.execution_id)
            backtest = await self._store.get(user_id, backtest_id)
        return backtest
