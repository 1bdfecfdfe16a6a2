"""Load: many small backtests submitted at once through the backend API.

    .venv/bin/python bench/load.py [--backtests 1000] [--concurrency 100]

Starts its own stack on loopback (the embedded MongoDB unless MONGO_URL answers, in a
throw-away database), submits the backtests concurrently, waits until each reaches a
final state, and prints throughput, submit latency, and `/api/health` (readiness) latency
idle and under load, with how many probes under load found the API not ready. Then it
checks the outcome: zero failed submissions, zero lost, zero run twice, zero stuck, zero
not ready. Every loop is bounded in count and time; it exits non-zero if a check fails.

Health is probed from a process of its own at normal priority. The load generator runs
at nice 10: on a real deployment the clients are other machines, and here they would
otherwise take a third of the CPU from the services being measured.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import sys
import time
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event as EventType
from typing import Any

import httpx
from pymongo.collection import Collection
from throwaway_stack import throwaway_stack

from shared.mongo import Document

FINAL = {"completed", "failed", "cancelled"}
DEADLINE_S = 900.0
HEALTH_PROBE_INTERVAL_S = 0.05
IDLE_PROBE_S = 20.0
LOAD_GENERATOR_NICE = 10
STRATEGY = {
    "name": "load",
    "symbol": "GOOG",
    "timeframe": "1d",
    "parameters": {"fast": 5, "slow": 20},
}
PARAMS = {"start_date": "2010-01-01T00:00:00Z", "end_date": "2012-12-31T00:00:00Z"}


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def probe_health(url: str, stop: EventType, latencies: Queue[tuple[list[float], int]]) -> None:
    """In a process of its own, so the load generator never delays a measurement. Puts
    the latencies and how many probes found the service not ready (not 200)."""
    measured = []
    not_ready = 0
    with httpx.Client(timeout=30) as http:
        http.get(url)  # connect once; measure requests, not handshakes
        while not stop.is_set():
            started = time.perf_counter()
            response = http.get(url)
            measured.append(time.perf_counter() - started)
            if response.status_code != 200:  # still an answer; say why it was not ready
                not_ready += 1
                print(f"health {response.status_code}: {response.text[:200]}", file=sys.stderr)
            time.sleep(HEALTH_PROBE_INTERVAL_S)
    latencies.put((measured, not_ready))


class HealthProbe:
    def __init__(self, url: str) -> None:
        context = multiprocessing.get_context("spawn")
        self._stop = context.Event()
        self._latencies: Queue[tuple[list[float], int]] = context.Queue()
        self.not_ready = 0
        self._process = context.Process(
            target=probe_health, args=(url, self._stop, self._latencies)
        )

    def __enter__(self) -> HealthProbe:
        self._process.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._process.join(timeout=30)

    def latencies(self) -> list[float]:
        self._stop.set()
        measured, self.not_ready = self._latencies.get(timeout=30)
        return measured


async def run_load(
    api_url: str, token: str, count: int, concurrency: int, backtests: Collection[Document]
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=concurrency + 10)
    with HealthProbe(f"{api_url}/api/health") as probe:
        await asyncio.sleep(IDLE_PROBE_S)
        idle = probe.latencies()
    async with httpx.AsyncClient(
        base_url=api_url, headers=headers, timeout=60, limits=limits
    ) as http:
        strategy = (await http.post("/api/strategy", json=STRATEGY)).json()
        gate = asyncio.Semaphore(concurrency)
        submit_latencies: list[float] = []
        failed_submits: list[str] = []

        async def submit(number: int) -> str | None:
            # Each backtest distinct (its capital), so every one is computed rather than
            # answered with the stored result of an identical earlier one.
            params = PARAMS | {"initial_capital": 10_000 + number}
            async with gate:
                started = time.perf_counter()
                try:
                    response = await http.post(
                        f"/api/strategy/{strategy['id']}/backtest", json=params
                    )
                except httpx.TransportError as error:
                    failed_submits.append(repr(error))
                    return None
                submit_latencies.append(time.perf_counter() - started)
                if response.status_code != 202:
                    failed_submits.append(f"{response.status_code}: {response.text[:200]}")
                    return None
                backtest_id: str = response.json()["id"]
                return backtest_id

        with HealthProbe(f"{api_url}/api/health") as probe:
            os.nice(LOAD_GENERATOR_NICE)  # after the probe started: it keeps normal priority
            started = time.perf_counter()
            submitted = await asyncio.gather(*(submit(number) for number in range(count)))
            ids = [backtest_id for backtest_id in submitted if backtest_id is not None]
            count = len(ids)
            submitted_s = time.perf_counter() - started
            deadline = time.monotonic() + DEADLINE_S
            # Read from MongoDB: the API lists at most 500 backtests per strategy.
            final = {"strategy_id": strategy["id"], "status": {"$in": sorted(FINAL)}}
            while time.monotonic() < deadline:
                if await asyncio.to_thread(backtests.count_documents, final) == count:
                    break
                await asyncio.sleep(0.5)
            finished_s = time.perf_counter() - started
            loaded = probe.latencies()
            not_ready = probe.not_ready
    documents = await asyncio.to_thread(
        list, backtests.find({"strategy_id": strategy["id"]}, {"status": 1})
    )
    statuses = {document["_id"]: document["status"] for document in documents}
    return {
        "ids": ids,
        "failed_submits": failed_submits,
        "statuses": statuses,
        "submitted_s": submitted_s,
        "finished_s": finished_s,
        "submit": submit_latencies,
        "idle": idle,
        "loaded": loaded,
        "not_ready": not_ready,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--backtests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()

    compute_env = {"WORKERS": str(args.workers)}
    # Every client here has the loopback address; on a deployment they are many.
    env = {"MAX_CONNECTIONS_PER_CLIENT": str(args.concurrency + 50)}
    with throwaway_stack("load", env, compute_env) as stack:
        outcome = asyncio.run(
            run_load(
                stack.api_url,
                stack.token,
                args.backtests,
                args.concurrency,
                stack.database["backtests"],
            )
        )
        executions = list(
            stack.database["executions"].find({}, {"backtest_id": 1, "attempts": 1, "status": 1})
        )
    return report(outcome, executions, args)


def report(
    outcome: dict[str, Any], executions: list[dict[str, Any]], args: argparse.Namespace
) -> int:
    statuses: dict[str, str] = outcome["statuses"]
    failed_submits: list[str] = outcome["failed_submits"]
    lost = [i for i in outcome["ids"] if i not in statuses]
    stuck = [i for i, status in statuses.items() if status not in FINAL]
    per_backtest: dict[str, int] = {}
    for execution in executions:
        per_backtest[execution["backtest_id"]] = per_backtest.get(execution["backtest_id"], 0) + 1
    run_twice = [e["_id"] for e in executions if e["attempts"] > 1] + [
        b for b, n in per_backtest.items() if n > 1
    ]
    completed = sum(1 for status in statuses.values() if status == "completed")
    idle_p99 = percentile(outcome["idle"], 0.99)
    loaded_p99 = percentile(outcome["loaded"], 0.99)
    print(f"backtests: {args.backtests}, concurrency {args.concurrency}, workers {args.workers}")
    submitted_s, finished_s = outcome["submitted_s"], outcome["finished_s"]
    print(f"submitted in {submitted_s:.1f} s ({args.backtests / submitted_s:.0f}/s)")
    print(f"all final in {finished_s:.1f} s ({args.backtests / finished_s:.1f} backtests/s)")
    print(
        f"submit latency: p50 {statistics.median(outcome['submit']) * 1000:.0f} ms, "
        f"p99 {percentile(outcome['submit'], 0.99) * 1000:.0f} ms"
    )
    print(
        f"/api/health p50: idle {statistics.median(outcome['idle']) * 1000:.1f} ms, "
        f"under load {statistics.median(outcome['loaded']) * 1000:.1f} ms"
    )
    print(
        f"/api/health p99: idle {idle_p99 * 1000:.1f} ms, under load {loaded_p99 * 1000:.1f} ms "
        f"({loaded_p99 / idle_p99:.1f}x; target <= 5x) over {len(outcome['loaded'])} probes"
    )
    print(f"readiness under load: {outcome['not_ready']} not ready (target 0)")
    print(
        f"failed submissions {len(failed_submits)}, completed {completed}, lost {len(lost)}, "
        f"run twice {len(run_twice)}, stuck {len(stuck)}"
    )
    for failure in failed_submits[:5]:
        print(f"  failed submission: {failure}")
    clean = not (failed_submits or lost or stuck or run_twice or outcome["not_ready"])
    return 0 if clean and completed == args.backtests else 1


if __name__ == "__main__":
    sys.exit(main())
