"""Fleet throughput (EXECUTOR=celery over the broker at BROKER_URL, RabbitMQ or Redis):
the same batch of CPU-bound backtests, then one large sweep, with one worker process,
with two processes in one worker, and with two worker "machines" (two separate
`botclub worker` processes, as on two hosts).

    .venv/bin/python bench/scale.py [--backtests 8] [--bars 200000] [--combinations 1000]
                                    [--sweep-combinations 4000]

Each backtest is an optimization of --combinations moving-average pairs over --bars
one-minute bars (a few seconds of computing, no result reused). Every worker process
first runs a warm-up batch, so that the bars are in its cache and the timed batch
measures computing, not the first read. Prints the timed batch's wall time, its
throughput, and the scaling efficiency: throughput / (processes x one process's); then
the wall time of one sweep of --sweep-combinations, fanned out over the workers in
parts of --combinations (SWEEP_PART_SIZE), and its speed-up over one process. Last,
with two workers and the default timings, the time from cancelling a running sweep to
its worker starting the next run, and from kill -9 of a worker mid-run to another one
taking the run over.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
from kombu import Connection
from pymongo.database import Database
from synthetic import minute_walk
from throwaway_stack import ThrowawayStack, throwaway_stack

from backend_services.market_data.importer import import_bars
from botclub.local_stack import ChildProcess, spawn, wait_until
from shared.mongo import Document

SYMBOL = "SCALE"
FINAL = ("completed", "failed", "cancelled")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--backtests", type=int, default=8)
    parser.add_argument("--bars", type=int, default=200_000)
    parser.add_argument("--combinations", type=int, default=1000)
    parser.add_argument("--sweep-combinations", type=int, default=4000)
    args = parser.parse_args()
    broker = os.environ.get("BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
    layouts = {
        "1 worker x 1 process": [1],
        "1 worker x 2 processes": [2],
        "2 workers x 1 process": [1, 1],
    }
    print(
        f"batch: {args.backtests} optimizations of {args.combinations} combinations; "
        f"sweep: one of {args.sweep_combinations} combinations, fanned out; "
        f"{args.bars:,} bars"
    )
    print(
        f"{'layout':>24} {'batch':>7} {'per minute':>11} {'efficiency':>11}"
        f" {'sweep':>7} {'speed-up':>9}"
    )
    single = single_sweep = 0.0
    for layout, processes in layouts.items():
        queue = f"scale-{uuid.uuid4().hex[:8]}"
        env = {
            "EXECUTOR": "celery",
            "BROKER_URL": broker,
            "FLEET_QUEUE": queue,
            # The batch's optimizations run whole; the large sweep fans out in parts.
            "SWEEP_PART_SIZE": str(args.combinations),
        }
        with throwaway_stack("scale", env) as stack:
            import_bars(stack.database, SYMBOL, minute_walk(args.bars, seed=3))
            workers: list[ChildProcess] = []
            db = stack.database
            try:
                for concurrency in processes:
                    workers.append(_start_worker(stack, concurrency))
                with _member(stack) as api:
                    strategy = _strategy(api)
                    _batch(api, db, strategy, 2 * sum(processes), args.combinations, offset=0)
                    wall = _batch(api, db, strategy, args.backtests, args.combinations, 1_000)
                    sweep = _batch(api, db, strategy, 1, args.sweep_combinations, 2_000)
            finally:
                for worker in workers:
                    worker.stop()
                _remove_queue(broker, queue)
        throughput = args.backtests / wall
        single, single_sweep = single or throughput, single_sweep or sweep
        efficiency = throughput / (sum(processes) * single)
        print(
            f"{layout:>24} {wall:>6.1f}s {throughput * 60:>11.1f} {efficiency:>10.0%}"
            f" {sweep:>6.1f}s {single_sweep / sweep:>8.2f}x"
        )
    _fault_timings(args, broker)
    return 0


def _remove_queue(broker: str, queue: str) -> None:
    with Connection(broker, connect_timeout=2) as connection:
        connection.default_channel.queue_delete(queue)
        connection.default_channel.exchange_delete(queue)


def _start_worker(stack: ThrowawayStack, concurrency: int) -> ChildProcess:
    name = f"worker-{uuid.uuid4().hex[:6]}"
    command = [str(Path(sys.executable).parent / "botclub"), "worker"]
    command += [f"--concurrency={concurrency}", f"--name={name}@%h", "--metrics-port=0"]
    child = spawn(name, command, stack.work, stack.compute_env)
    wait_until(lambda: " ready." in child.log_tail(200), child, 60.0)
    return child


def _member(stack: ThrowawayStack) -> httpx.Client:
    headers = {"Authorization": f"Bearer {stack.token}"}
    return httpx.Client(base_url=stack.api_url, headers=headers, timeout=60)


def _strategy(api: httpx.Client) -> str:
    fields = {
        "name": "scale",
        "symbol": SYMBOL,
        "timeframe": "1m",
        "parameters": {"fast": 10, "slow": 100},
        "costs": {"commission_pct": 0.001},
    }
    response = api.post("/api/strategy", json=fields)
    response.raise_for_status()
    strategy_id: str = response.json()["id"]
    return strategy_id


def _grid(combinations: int) -> dict[str, list[int]]:
    """About `combinations` moving-average pairs: up to 50 fast windows, as many slow."""
    fast = list(range(5, 5 + min(combinations, 50)))
    slow = [200 + 10 * k for k in range(max(1, round(combinations / len(fast))))]
    return {"fast": fast, "slow": slow}


def _batch(
    api: httpx.Client,
    database: Database[Document],
    strategy: str,
    count: int,
    combinations: int,
    offset: int,
) -> float:
    """Submit `count` optimizations at once; the seconds until the last has completed."""
    started = time.perf_counter()
    ids = [_optimize(api, strategy, combinations, offset + index) for index in range(count)]
    # One query of the executions every quarter second: polling the API for each
    # backtest would take a share of the two cores the workers are measured on.
    executions = database["executions"]
    while (
        executions.count_documents({"backtest_id": {"$in": ids}, "status": {"$in": FINAL}}) < count
    ):
        time.sleep(0.25)
    failed = executions.count_documents(
        {"backtest_id": {"$in": ids}, "status": {"$ne": "completed"}}
    )
    if failed:
        raise RuntimeError(f"{failed} of the batch did not complete")
    return time.perf_counter() - started


def _optimize(api: httpx.Client, strategy: str, combinations: int, offset: int) -> str:
    """Start an optimization no earlier one matches (its capital is its own)."""
    params = {
        "start_date": "2000-01-01T00:00:00Z",
        "end_date": "2100-01-01T00:00:00Z",
        "initial_capital": 10_000 + offset,
        "sweep": {"grid": _grid(combinations)},
    }
    response = api.post(f"/api/strategy/{strategy}/optimize", json=params)
    if response.status_code != 202:
        raise RuntimeError(f"refused: {response.text}")
    backtest_id: str = response.json()["id"]
    return backtest_id


def _fault_timings(args: argparse.Namespace, broker: str) -> None:
    """With the default timings: from a cancel to the worker taking the next run, and
    from kill -9 of a worker mid-run to another worker taking the run over."""
    queue = f"scale-{uuid.uuid4().hex[:8]}"
    env = {"EXECUTOR": "celery", "BROKER_URL": broker, "FLEET_QUEUE": queue}
    with throwaway_stack("scale", env) as stack:
        import_bars(stack.database, SYMBOL, minute_walk(args.bars, seed=3))
        executions = stack.database["executions"]

        def execution(backtest_id: str) -> Document:
            while (document := executions.find_one({"backtest_id": backtest_id})) is None:
                time.sleep(0.05)
            return document

        def wait(backtest_id: str, until: Callable[[Document], bool]) -> float:
            while not until(execution(backtest_id)):
                time.sleep(0.02)
            return time.perf_counter()

        workers: list[ChildProcess] = []
        try:
            workers.append(_start_worker(stack, 1))
            with _member(stack) as api:
                strategy = _strategy(api)
                running = _optimize(api, strategy, args.sweep_combinations, 3_000)
                wait(running, lambda e: e["status"] == "running")
                queued = _optimize(api, strategy, args.combinations, 3_001)
                wait(queued, lambda e: e["status"] == "queued")
                cancelled_at = time.perf_counter()
                api.delete(f"/api/backtest/{running}")
                freed = wait(queued, lambda e: e["start_time"] is not None) - cancelled_at
                wait(queued, lambda e: e["status"] in FINAL)

                doomed = _optimize(api, strategy, args.sweep_combinations, 3_002)
                wait(doomed, lambda e: e["status"] == "running")
                workers.append(_start_worker(stack, 1))
                killed_at = time.perf_counter()
                workers[0].kill()
                taken_over = wait(doomed, lambda e: e["attempts"] == 2) - killed_at
                wait(doomed, lambda e: e["status"] in FINAL)
        finally:
            for worker in workers:
                worker.stop()
            _remove_queue(broker, queue)
    print(
        f"cancel of a running sweep to its worker starting the next run: {freed:.2f} s; "
        f"kill -9 of a worker mid-run to another taking the run over: {taken_over:.1f} s "
        "(HEARTBEAT_TIMEOUT_S 15, the default)"
    )


if __name__ == "__main__":
    sys.exit(main())
