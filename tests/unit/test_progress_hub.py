"""The API's progress hub: pushed changes reach subscribers at once, in order, never
backwards, and a final state ends every stream, however late its subscriber comes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from backend.schemas import Backtest
from backend.streams.progress_hub import (
    READ_FROM_MEMORY_S,
    ProgressEvent,
    ProgressHub,
    event_of,
)
from shared.contracts.backtests import BacktestParams
from shared.contracts.executions import ExecutionUpdate
from shared.contracts.lifecycle import BacktestStatus

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _backtest(status: BacktestStatus = BacktestStatus.QUEUED, progress: float = 0.0) -> Backtest:
    return Backtest(
        id="b1",
        strategy_id="s1",
        status=status,
        progress=progress,
        params=BacktestParams(start_date=NOW, end_date=NOW.replace(year=2027)),
        execution_id="e1",
        created_at=NOW,
        updated_at=NOW,
        result=None,
        error="cancelled" if status is BacktestStatus.CANCELLED else None,
    )


def _running(progress: float) -> ExecutionUpdate:
    return ExecutionUpdate(
        backtest_id="b1", execution_id="e1", status=BacktestStatus.RUNNING, progress=progress
    )


async def _collect(
    hub: ProgressHub, backtest: Backtest, after: int | None = None
) -> list[ProgressEvent]:
    return [event async for event in hub.subscribe(event_of(backtest), after)]


async def test_pushed_changes_reach_a_subscriber_at_once_and_the_final_state_ends_it() -> None:
    hub = ProgressHub()
    backtest = _backtest()
    stream = asyncio.ensure_future(_collect(hub, backtest))
    await asyncio.sleep(0)

    for progress in (0.0, 40.0, 20.0, 70.0):  # 20 arrives late: never sent backwards
        hub.publish_live(_running(progress))
    hub.publish_final(_backtest(BacktestStatus.CANCELLED, 70.0))
    events = await asyncio.wait_for(stream, 1.0)

    assert [(e.status, e.progress) for e in events] == [
        (BacktestStatus.QUEUED, 0.0),
        (BacktestStatus.RUNNING, 0.0),
        (BacktestStatus.RUNNING, 40.0),
        (BacktestStatus.RUNNING, 70.0),
        (BacktestStatus.CANCELLED, 70.0),
    ]
    assert [e.final for e in events] == [False] * 4 + [True]
    assert hub.watching == 0


async def test_a_subscriber_arriving_after_the_final_state_gets_it_and_ends() -> None:
    hub = ProgressHub()
    hub.publish_live(_running(50.0))
    hub.publish_final(_backtest(BacktestStatus.CANCELLED, 50.0))

    # Read from the store just before the final state was stored: still queued.
    events = await asyncio.wait_for(_collect(hub, _backtest()), 1.0)

    assert [(e.status, e.final) for e in events] == [(BacktestStatus.CANCELLED, True)]


async def test_a_late_change_after_the_final_state_is_ignored() -> None:
    hub = ProgressHub()
    hub.publish_final(_backtest(BacktestStatus.CANCELLED))
    hub.publish_live(_running(90.0))

    assert hub.current(_backtest()).status is BacktestStatus.QUEUED  # as stored, not live
    events = await asyncio.wait_for(_collect(hub, _backtest()), 1.0)
    assert [e.status for e in events] == [BacktestStatus.CANCELLED]


async def test_a_resumed_stream_sends_only_newer_states() -> None:
    hub = ProgressHub()
    hub.publish_live(_running(30.0))
    seen = hub.current(_backtest())
    first = [e async for e in _first(hub.subscribe(event_of(_backtest())))]

    hub.publish_live(_running(60.0))
    resumed = asyncio.ensure_future(_collect(hub, _backtest(), after=first[0].id))
    await asyncio.sleep(0)
    hub.publish_final(_backtest(BacktestStatus.CANCELLED, 60.0))
    events = await asyncio.wait_for(resumed, 1.0)

    assert (seen.status, seen.progress) == (BacktestStatus.RUNNING, 30.0)
    assert [e.progress for e in events] == [60.0, 60.0]
    assert [e.final for e in events] == [False, True]


def test_a_read_shows_the_pushed_state_only_while_it_is_newer_than_the_stored_one() -> None:
    hub = ProgressHub()
    hub.publish_live(_running(10.0))

    assert hub.current(_backtest()).progress == 10.0
    assert hub.current(_backtest(BacktestStatus.CANCELLED)).status is BacktestStatus.CANCELLED


async def _first(events: AsyncIterator[ProgressEvent]) -> AsyncIterator[ProgressEvent]:
    async for event in events:
        yield event
        return


def test_a_backtest_accepted_here_is_read_from_memory_by_its_member_alone_while_it_runs() -> None:
    hub = ProgressHub()
    hub.publish_accepted("u1", _backtest(BacktestStatus.PENDING))

    assert hub.accepted("b1", "u1") == _backtest(BacktestStatus.PENDING)
    assert hub.accepted("b1", "u2") is None
    assert hub.accepted("b2", "u1") is None
    hub.publish_dispatched("b1", "e9", NOW)
    handed_over = hub.accepted("b1", "u1")
    assert handed_over is not None
    assert (handed_over.status, handed_over.execution_id) == (BacktestStatus.QUEUED, "e9")
    hub.publish_final(_backtest(BacktestStatus.CANCELLED))
    assert hub.accepted("b1", "u1") is None


def test_a_backtest_changed_otherwise_or_held_too_long_is_read_again() -> None:
    now = [0.0]
    hub = ProgressHub(clock=lambda: now[0])
    hub.publish_accepted("u1", _backtest())
    hub.forget_accepted("b1")
    assert hub.accepted("b1", "u1") is None

    hub.publish_accepted("u1", _backtest())
    now[0] = READ_FROM_MEMORY_S
    assert hub.accepted("b1", "u1") is not None
    now[0] = READ_FROM_MEMORY_S + 0.1
    assert hub.accepted("b1", "u1") is None


def test_a_backtest_accepted_already_final_is_not_held() -> None:
    hub = ProgressHub()
    hub.publish_accepted("u1", _backtest(BacktestStatus.CANCELLED))
    assert hub.accepted("b1", "u1") is None


async def test_a_wait_for_the_final_state_ends_as_soon_as_it_is_stored() -> None:
    hub = ProgressHub()
    waiting = asyncio.ensure_future(hub.final_within("b1", 30.0))
    await asyncio.sleep(0)

    hub.publish_final(_backtest(BacktestStatus.CANCELLED))

    assert await asyncio.wait_for(waiting, 1.0) is BacktestStatus.CANCELLED
    assert await hub.final_within("b1", 0.0) is BacktestStatus.CANCELLED  # kept: at once
    assert await hub.final_within("b2", 0.01) is None
    assert await hub.final_within("b2", 0.0) is None


async def test_every_wait_for_the_same_final_state_is_woken() -> None:
    hub = ProgressHub()
    short = asyncio.ensure_future(hub.final_within("b1", 0.01))
    long = asyncio.ensure_future(hub.final_within("b1", 30.0))
    assert await short is None  # timed out first, and leaves the other waiting

    hub.publish_final(_backtest(BacktestStatus.COMPLETED))

    assert await asyncio.wait_for(long, 1.0) is BacktestStatus.COMPLETED
