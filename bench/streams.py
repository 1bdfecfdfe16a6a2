"""Live progress: how long a progress write takes to reach a subscriber, and 200
subscribers on one backtest.

    .venv/bin/python bench/streams.py [--writes 60] [--subscribers 200]

A throw-away stack with one worker, kept busy by a long optimization, so the measured
backtest waits in the queue: the benchmark then plays its worker, marking the execution
running and writing progress to its record in MongoDB as a worker does, each write
timed, and a subscriber on `/api/backtest/{id}/events` times its arrival. The path
measured is the product's: MongoDB, the compute service's status, the backend's one
watcher (which reads every PROGRESS_INTERVAL_S, 0.25 s), the event stream.

Then `--subscribers` streams follow the same backtest: one more progress write, and the
time until each has it; then a cancel, and the time until every stream has its final
event and has ended.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import operator
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic import minute_walk
from throwaway_stack import ThrowawayStack, throwaway_stack

from backend_services.market_data.importer import import_bars

BLOCKER_SYMBOL = "STREAMBENCH"
BLOCKER_BARS = 1_000_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--writes", type=int, default=60)
    parser.add_argument("--subscribers", type=int, default=200)
    args = parser.parse_args()
    env = {"WORKERS": "1", "MAX_CONNECTIONS_PER_CLIENT": str(args.subscribers + 50)}
    with throwaway_stack("streams", env) as stack:
        import_bars(stack.database, BLOCKER_SYMBOL, minute_walk(BLOCKER_BARS, seed=5))
        asyncio.run(_measure(stack, args.writes, args.subscribers))


async def _measure(stack: ThrowawayStack, writes: int, subscribers: int) -> None:
    headers = {"Authorization": f"Bearer {stack.token}"}
    limits = httpx.Limits(max_connections=subscribers + 20)
    async with httpx.AsyncClient(
        base_url=stack.api_url, headers=headers, timeout=120, limits=limits
    ) as api:
        blocker = await _start(api, BLOCKER_SYMBOL, "1m", sweep=True)
        while True:  # the worker busy with it before the measured one is queued
            if (await api.get(f"/api/backtest/{blocker}")).json()["status"] == "running":
                break
            await asyncio.sleep(0.1)
        measured = await _start(api, "GOOG", "1d", sweep=False)
        execution_id = await _execution_of(api, measured)
        executions = stack.database["executions"]
        now = datetime.now(UTC)
        executions.update_one(
            {"_id": execution_id},
            {"$set": {"status": "running", "run_id": "bench", "heartbeat_at": now,
                      "start_time": now, "progress": 0.0}},
        )  # fmt: skip

        arrivals: dict[float, float] = {}
        follower = asyncio.create_task(_follow(api, measured, arrivals))
        await asyncio.sleep(1.0)
        latencies = []
        for step in range(1, writes + 1):
            progress = float(step)
            await asyncio.sleep(random.uniform(0.05, 0.35))  # any phase of the watcher's
            written = time.perf_counter()
            await asyncio.to_thread(
                executions.update_one,
                {"_id": execution_id},
                {"$set": {"progress": progress, "heartbeat_at": datetime.now(UTC)}},
            )
            await _until(partial(operator.contains, arrivals, progress))
            latencies.append(arrivals[progress] - written)
        _report("progress write -> subscriber", latencies)

        streams: list[dict[float, float]] = [{} for _ in range(subscribers)]
        tasks = [asyncio.create_task(_follow(api, measured, into)) for into in streams]
        await asyncio.sleep(3.0)  # all connected and past their first event
        progress = float(writes + 10)
        written = time.perf_counter()
        await asyncio.to_thread(
            executions.update_one, {"_id": execution_id}, {"$set": {"progress": progress}}
        )
        await _until(lambda: all(progress in into for into in streams))
        _report(
            f"{subscribers} subscribers, one progress write -> each subscriber",
            [into[progress] - written for into in streams],
        )
        cancelled = time.perf_counter()
        await api.delete(f"/api/backtest/{measured}")
        await asyncio.wait_for(asyncio.gather(*tasks, follower), 60)
        ended = time.perf_counter() - cancelled
        print(f"cancel -> all {subscribers + 1} streams ended with the final event: {ended:.2f} s")
        await api.delete(f"/api/backtest/{blocker}")


async def _start(api: httpx.AsyncClient, symbol: str, timeframe: str, sweep: bool) -> str:
    strategy = await api.post(
        "/api/strategy",
        json={"name": f"bench {symbol}", "symbol": symbol, "timeframe": timeframe},
    )
    body: dict[str, Any] = {
        "start_date": "2000-01-01T00:00:00Z",
        "end_date": "2030-01-01T00:00:00Z",
        "initial_capital": random.uniform(1e4, 1e5),
    }
    kind = "backtest"
    if sweep:
        kind = "optimize"
        body["sweep"] = {"grid": {"fast": list(range(5, 50)), "slow": list(range(60, 100))}}
    started = await api.post(f"/api/strategy/{strategy.json()['id']}/{kind}", json=body)
    started.raise_for_status()
    backtest_id: str = started.json()["id"]
    return backtest_id


async def _execution_of(api: httpx.AsyncClient, backtest_id: str) -> str:
    while True:
        backtest = (await api.get(f"/api/backtest/{backtest_id}")).json()
        if backtest["execution_id"]:
            execution_id: str = backtest["execution_id"]
            return execution_id
        await asyncio.sleep(0.1)


async def _follow(api: httpx.AsyncClient, backtest_id: str, arrivals: dict[float, float]) -> None:
    """Record when each progress value arrives, until the stream ends."""
    async with api.stream("GET", f"/api/backtest/{backtest_id}/events") as stream:
        async for line in stream.aiter_lines():
            if line.startswith("data: "):
                event = json.loads(line[6:])
                arrivals.setdefault(event["progress"], time.perf_counter())


async def _until(done: Callable[[], bool]) -> None:
    """Polls every 2 ms: a precise enough clock for arrivals measured in tens of ms."""
    while True:
        if done():
            return
        await asyncio.sleep(0.002)


def _report(what: str, seconds: list[float]) -> None:
    ordered = sorted(seconds)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    print(
        f"{what}: n={len(ordered)} p50 {statistics.median(ordered) * 1e3:.0f} ms, "
        f"p95 {p95 * 1e3:.0f} ms, max {ordered[-1] * 1e3:.0f} ms"
    )


if __name__ == "__main__":
    main()
