"""Live progress: how long a worker's push takes to reach a subscriber, and 200
subscribers on one backtest.

    .venv/bin/python bench/streams.py [--pushes 60] [--subscribers 200]

A throw-away stack with one worker, kept busy by a long optimization, so the measured
backtest waits in the queue: the benchmark then plays its worker, pushing its claim and
progress to the API (`POST /api/backtest/events`, signed) as a worker does, each push
timed, and a subscriber on `/api/backtest/{id}/events` times its arrival. The path
measured is the product's: the signed push, the API's progress hub, the event stream.

Then `--subscribers` streams follow the same backtest: one more push, and the time
until each has it; then a cancel, and the time until every stream has its final event
and has ended.
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
from functools import partial
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic import minute_walk
from throwaway_stack import ThrowawayStack, throwaway_stack

from backend_services.market_data.importer import import_bars
from shared.contracts.executions import ExecutionUpdate
from shared.contracts.lifecycle import BacktestStatus
from shared.paths import EVENTS_PATH
from shared.signing import ServiceSignature

BLOCKER_SYMBOL = "STREAMBENCH"
BLOCKER_BARS = 1_000_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pushes", type=int, default=60)
    parser.add_argument("--subscribers", type=int, default=200)
    args = parser.parse_args()
    env = {"WORKERS": "1", "MAX_CONNECTIONS_PER_CLIENT": str(args.subscribers + 50)}
    with throwaway_stack("streams", env) as stack:
        import_bars(stack.database, BLOCKER_SYMBOL, minute_walk(BLOCKER_BARS, seed=5))
        asyncio.run(_measure(stack, args.pushes, args.subscribers))


async def _measure(stack: ThrowawayStack, pushes: int, subscribers: int) -> None:
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
        worker = httpx.AsyncClient(
            base_url=stack.api_url, auth=ServiceSignature(stack.compute_env["SERVICE_SECRET"])
        )

        async def push(progress: float) -> None:
            update = ExecutionUpdate(
                backtest_id=measured,
                execution_id=execution_id,
                status=BacktestStatus.RUNNING,
                progress=progress,
            )
            pushed = await worker.post(
                EVENTS_PATH,
                content=update.model_dump_json(),
                headers={"Content-Type": "application/json"},
            )
            pushed.raise_for_status()

        await push(0.0)

        arrivals: dict[float, float] = {}
        follower = asyncio.create_task(_follow(api, measured, arrivals))
        await asyncio.sleep(1.0)
        latencies = []
        for step in range(1, pushes + 1):
            progress = float(step)
            await asyncio.sleep(random.uniform(0.05, 0.35))
            pushed = time.perf_counter()
            await push(progress)
            await _until(partial(operator.contains, arrivals, progress))
            latencies.append(arrivals[progress] - pushed)
        _report("worker push -> subscriber", latencies)

        streams: list[dict[float, float]] = [{} for _ in range(subscribers)]
        tasks = [asyncio.create_task(_follow(api, measured, into)) for into in streams]
        await asyncio.sleep(3.0)  # all connected and past their first event
        progress = float(pushes + 10)
        pushed = time.perf_counter()
        await push(progress)
        await _until(lambda: all(progress in into for into in streams))
        _report(
            f"{subscribers} subscribers, one push -> each subscriber",
            [into[progress] - pushed for into in streams],
        )
        cancelled = time.perf_counter()
        await api.delete(f"/api/backtest/{measured}")
        await asyncio.wait_for(asyncio.gather(*tasks, follower), 60)
        ended = time.perf_counter() - cancelled
        print(f"cancel -> all {subscribers + 1} streams ended with the final event: {ended:.2f} s")
        await api.delete(f"/api/backtest/{blocker}")
        await worker.aclose()


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
