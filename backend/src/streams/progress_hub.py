"""Live progress of backtests, pushed to any number of subscribers (Server-Sent Events,
WebSocket) as it happens.

Nothing here reads on a timer. The compute service's workers push each live change
(claimed, progress) to `POST /api/backtest/events`, which hands it to `publish_live`;
every final state the API stores reaches `publish_final` (the hub is `BacktestStore`'s
listener), whether it came with `save_result`, a cancel, or a supervisor's sweep that
recovered a lost callback. The hub keeps the latest live state of each running
backtest in memory (what `GET /api/backtest/{id}` shows while it runs) and recent final
states, so a subscriber that arrives just after the end still gets it. It also holds
each backtest this process accepted, with its member, as stored (kept up to date with
its hand-over) until it ends, changes otherwise or is READ_FROM_MEMORY_S old: a member
who follows or reads a backtest while it runs is answered without reading back what
this process wrote.

An event is a snapshot, not a change, and its id grows with the state (status first,
then progress, which never decreases): a subscriber resuming after event N needs only
the current state if its id is greater than N, whatever happened in between, even after
a restart of the API. A lost live event is harmless: the next one, or the final state,
carries everything.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from backend.schemas import Backtest
from shared.contracts.executions import ExecutionUpdate
from shared.contracts.lifecycle import BacktestStatus

__all__ = ["HEADLINE_STATISTICS", "ProgressEvent", "ProgressHub", "event_of"]

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
# Live states held at most (one per running backtest), and final states kept for
# subscribers that arrive just after the end.
MAX_LIVE = 100_000
MAX_RECENT_FINALS = 10_000
# A backtest this process accepted is read from memory for this long, then from the
# store: with several API instances, the final state may reach another one.
READ_FROM_MEMORY_S = 10.0


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


def _event_id(status: BacktestStatus, progress: float) -> int:
    return _STAGE[status] * _STAGE_SPAN + round(progress * 10)


def event_of(backtest: Backtest, statistics: Mapping[str, Any] | None = None) -> ProgressEvent:
    """The event of a backtest's stored state; its headline statistics from `statistics`
    when given (a result that arrived packed is not unpacked for them), else from its
    result."""
    headline = None
    if statistics is not None:
        headline = {name: statistics[name] for name in HEADLINE_STATISTICS}
    elif backtest.result is not None:
        headline = {name: getattr(backtest.result, name) for name in HEADLINE_STATISTICS}
    return ProgressEvent(
        id=_event_id(backtest.status, backtest.progress),
        backtest_id=backtest.id,
        status=backtest.status,
        progress=backtest.progress,
        eta_s=None,
        final=backtest.status.is_final,
        error=backtest.error,
        statistics=headline,
    )


class _Eta:
    """Seconds left from the rate of progress since the run was first seen running."""

    def __init__(self) -> None:
        self._start: tuple[float, float] | None = None

    def estimate(self, status: BacktestStatus, progress: float) -> float | None:
        if status is not BacktestStatus.RUNNING:
            return None
        now = time.monotonic()
        if self._start is None:
            self._start = (now, progress)
            return None
        started_at, started_progress = self._start
        done = progress - started_progress
        if done <= 0:
            return None
        return round((now - started_at) * (100 - progress) / done, 1)


@dataclass(slots=True)
class _Accepted:
    """A backtest this process stored, for its member's reads while it runs."""

    user_id: str
    backtest: Backtest
    at: float  # the hub's clock when it was accepted


class _Live:
    """A running backtest's latest pushed state."""

    def __init__(self, event: ProgressEvent) -> None:
        self.event = event
        self.eta = _Eta()


class ProgressHub:
    """The latest state of every live backtest, and the subscribers of each."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._live: OrderedDict[str, _Live] = OrderedDict()
        self._finals: OrderedDict[str, ProgressEvent] = OrderedDict()
        self._accepted: OrderedDict[str, _Accepted] = OrderedDict()
        self._final_waiters: dict[str, set[asyncio.Future[BacktestStatus]]] = {}
        self._subscribers: dict[str, set[asyncio.Queue[ProgressEvent]]] = {}

    @property
    def watching(self) -> int:
        """How many backtests have subscribers now."""
        return len(self._subscribers)

    def current(self, backtest: Backtest) -> Backtest:
        """The backtest with its latest pushed live state (status and progress), for a
        member's read while it runs; as stored once it is final."""
        live = self._live.get(backtest.id)
        if backtest.status.is_final or live is None or live.event.id <= event_of(backtest).id:
            return backtest
        event = live.event
        return backtest.model_copy(update={"status": event.status, "progress": event.progress})

    def live_progress(self, backtest_id: str) -> float | None:
        """The latest progress a worker pushed for a running backtest; None if none."""
        live = self._live.get(backtest_id)
        return live.event.progress if live is not None else None

    async def final_within(self, backtest_id: str, seconds: float) -> BacktestStatus | None:
        """The backtest's final status once this process stores one (at once when it is
        among the recent final states), waiting at most `seconds`; None if none came."""
        if (final := self._finals.get(backtest_id)) is not None:
            return final.status
        if seconds <= 0:
            return None
        waiter: asyncio.Future[BacktestStatus] = asyncio.get_running_loop().create_future()
        waiters = self._final_waiters.setdefault(backtest_id, set())
        waiters.add(waiter)
        try:
            await asyncio.wait({waiter}, timeout=seconds)
        finally:
            waiters.discard(waiter)
            if not waiters and self._final_waiters.get(backtest_id) is waiters:
                del self._final_waiters[backtest_id]
        return waiter.result() if waiter.done() else None

    def publish_accepted(self, user_id: str, backtest: Backtest) -> None:
        """A backtest this process just stored for `user_id`, held for its reads."""
        if backtest.status.is_final:
            return
        self._accepted[backtest.id] = _Accepted(user_id, backtest, self._clock())
        if len(self._accepted) > MAX_LIVE:
            self._accepted.popitem(last=False)

    def publish_dispatched(self, backtest_id: str, execution_id: str, at: datetime) -> None:
        """A pending backtest was handed over: as the store records it (at once, or
        after `dispatch.RECORD_HANDOVER_AFTER_S` unless its final state came first)."""
        accepted = self._accepted.get(backtest_id)
        if accepted is None:
            return
        handed_over = {
            "status": BacktestStatus.QUEUED,
            "execution_id": execution_id,
            "error": None,
            "updated_at": at,
        }
        accepted.backtest = accepted.backtest.model_copy(update=handed_over)

    def forget_accepted(self, backtest_id: str) -> None:
        """The store changed a live backtest otherwise: it is read from there again."""
        self._accepted.pop(backtest_id, None)

    def accepted(self, backtest_id: str, user_id: str) -> Backtest | None:
        """A live backtest this process accepted for `user_id` at most
        READ_FROM_MEMORY_S ago, as stored (`current` puts its pushed state on top);
        None for any other: read it."""
        accepted = self._accepted.get(backtest_id)
        if accepted is None or accepted.user_id != user_id:
            return None
        if self._clock() - accepted.at > READ_FROM_MEMORY_S:
            del self._accepted[backtest_id]
            return None
        return accepted.backtest

    def publish_live(self, update: ExecutionUpdate) -> None:
        """A worker's push: claimed, or progress. Ignored unless newer than what the hub
        holds, or once the backtest is final."""
        if update.backtest_id in self._finals or update.status.is_final:
            return
        live = self._live.get(update.backtest_id)
        event_id = _event_id(update.status, update.progress)
        if live is not None and event_id <= live.event.id:
            return
        if live is None:
            live = _Live(_placeholder(update.backtest_id))
            self._live[update.backtest_id] = live
            if len(self._live) > MAX_LIVE:
                self._live.popitem(last=False)
        live.event = ProgressEvent(
            id=event_id,
            backtest_id=update.backtest_id,
            status=update.status,
            progress=update.progress,
            eta_s=live.eta.estimate(update.status, update.progress),
            final=False,
        )
        self._send(live.event)

    def publish_final(
        self, backtest: Backtest, statistics: Mapping[str, Any] | None = None
    ) -> None:
        """A final state, as stored (with its `statistics` once completed, when its
        result is not in hand): sent to every subscriber, whose streams then end."""
        event = event_of(backtest, statistics)
        self._live.pop(backtest.id, None)
        self._accepted.pop(backtest.id, None)
        for waiter in self._final_waiters.pop(backtest.id, set()):
            if not waiter.done():
                waiter.set_result(backtest.status)
        self._finals[backtest.id] = event
        if len(self._finals) > MAX_RECENT_FINALS:
            self._finals.popitem(last=False)
        self._send(event)

    async def subscribe(
        self, stored: ProgressEvent, after: int | None = None
    ) -> AsyncIterator[ProgressEvent]:
        """A backtest's events from its current state on (or, resuming `after` an
        event id, from the first newer state), until the final one; `stored` is its
        state as stored (`event_of`)."""
        backtest_id = stored.backtest_id
        queue: asyncio.Queue[ProgressEvent] = asyncio.Queue()
        subscribers = self._subscribers.setdefault(backtest_id, set())
        subscribers.add(queue)
        try:
            sent = after if after is not None else -1
            event = self._newest(stored)
            while True:
                if event.id > sent:
                    sent = event.id
                    yield event
                if event.final:
                    return
                event = await queue.get()
        finally:
            subscribers.discard(queue)
            if not subscribers:
                self._subscribers.pop(backtest_id, None)

    def _newest(self, stored: ProgressEvent) -> ProgressEvent:
        """The newest of the stored state, the pushed live state and a recent final."""
        candidates = [stored]
        if (final := self._finals.get(stored.backtest_id)) is not None:
            candidates.append(final)
        elif (live := self._live.get(stored.backtest_id)) is not None:
            candidates.append(live.event)
        return max(candidates, key=lambda event: (event.final, event.id))

    def _send(self, event: ProgressEvent) -> None:
        for queue in self._subscribers.get(event.backtest_id, ()):
            queue.put_nowait(event)


def _placeholder(backtest_id: str) -> ProgressEvent:
    return ProgressEvent(
        id=-1,
        backtest_id=backtest_id,
        status=BacktestStatus.QUEUED,
        progress=0.0,
        eta_s=None,
        final=False,
    )
