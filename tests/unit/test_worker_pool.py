"""The embedded pool starts the runs the shared scheduling chooses, as the fleet does:
priorities first, then members in turn."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from pool_jobs import note_start, note_starts_in

from backend_services.services.backtest.execution.scheduling import WaitingRun
from backend_services.services.backtest.execution.worker_pool import ProcessWorkerPool
from shared.contracts.common import utc_now


def test_members_take_turns_at_the_embedded_pools_workers(tmp_path: Path) -> None:
    ended = asyncio.run(_burst_then_others(str(tmp_path)))

    started = sorted(tmp_path.iterdir(), key=lambda path: int(path.read_text()))
    assert [path.name for path in started] == [
        "alice-0",
        "alice-urgent",
        "bob-0",  # before alice's burst: bob was never served
        "alice-1",
        "alice-2",
        "alice-3",
    ]
    assert ended == []  # each job left nothing to do


async def _burst_then_others(folder: str) -> list[str]:
    """One worker; a burst from one member, then one backtest from another and an
    urgent one from the first; until every run ended. The runs that left work to do."""
    ended: list[str] = []

    async def on_run_ended(execution_id: str, error: Exception | None) -> None:
        ended.append(execution_id)

    pool = ProcessWorkerPool(1, note_start, note_starts_in, (folder,), on_run_ended, 0.5)
    at = utc_now()
    try:
        for k in range(4):
            pool.submit(WaitingRun(f"alice-{k}", "alice", 5, at + timedelta(seconds=k)))
        pool.submit(WaitingRun("bob-0", "bob", 5, at + timedelta(seconds=10)))
        pool.submit(WaitingRun("alice-urgent", "alice", 0, at + timedelta(seconds=11)))
        assert (pool.state().busy, pool.state().queued) == (1, 5)
        for _ in range(600):
            if (pool.state().busy, pool.state().queued) == (0, 0):
                break
            await asyncio.sleep(0.1)
    finally:
        await pool.close()
    return ended
