"""End to end: what a member waits for around the engine, stage by stage, and the
MongoDB round trips each backtest costs.

    .venv/bin/python bench/e2e.py [--only small,cold,warm,many] [--runs 30] [--bars 1000000]
                                  [--cold-runs 3] [--warm-runs 10] [--many 300] [--clients 20]
    .venv/bin/python bench/e2e.py --load [--members 50] [--duration 120]
    .venv/bin/python bench/e2e.py --only small,many --runs 10 --many 60   # a quick look

Starts its own stack on loopback (the embedded MongoDB unless MONGO_URL answers, in a
throw-away database) and measures, through the API as members use it:

- small: a backtest of the GOOG daily sample (about 2,000 bars), from its submit
  (`POST /api/strategy/{id}/backtest`) to its final event on
  `GET /api/backtest/{id}/events`, median and p90 over --runs, one after another; and
  the POST alone;
- cold: the first backtest of --bars one-minute bars after their upload through the API
  (its bars read from MongoDB), once per upload, --cold-runs uploads;
- warm: the same backtest with its bars already in every worker's cache, --warm-runs
  times, against `BacktestEngine` alone on the same bars in this process;
- many: --many small backtests from --clients members at once, each following its
  backtest to the end before submitting the next: backtests per second, none lost;
- load (--load, or in --only): --members members for --duration seconds, half polling
  `GET /api/backtest/{id}` every 0.5 s on their running backtest, half following it over
  Server-Sent Events, each submitting a new one when it ends, one in ten on the big
  bars: that GET's p50 and p99 and backtests per second.

Each backtest has a capital no other has, so none is answered from the result cache.
For each part: the stages of its backtests in milliseconds since submit, from the
timestamps the services record (see e2e_records) and the client's own; and the
MongoDB commands both services sent (counted by their command listeners, the compute
service's worker processes included) per backtest, by command. Every wait is bounded;
exits non-zero if a backtest was lost, failed or was answered from the cache.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from e2e_bench import (
    BIG_PARAMETERS,
    BIG_SEED,
    BIG_STRATEGY,
    BIG_SYMBOL,
    SMALL_STRATEGY,
    Bench,
    end_to_end,
    idle_background,
    in_turn,
    milliseconds,
    one_backtest,
    parquet,
    upload,
    warm_every_worker,
)
from e2e_load import load
from e2e_member import Member, Run
from synthetic import minute_walk
from throwaway_stack import ThrowawayStack, throwaway_stack

from shared.market_data.bars import Bars

PARTS = ("small", "cold", "warm", "many", "load")
ENGINE_REPEAT = 5


async def small(bench: Bench) -> None:
    member = bench.member(0)
    strategy_id = await member.strategy(SMALL_STRATEGY)
    symbol = (await member.http.get("/api/market-data/symbols/GOOG")).json()
    batch = await bench.measure(lambda: in_turn(member, strategy_id, False, bench.args.runs))
    print(f"a) a small backtest (GOOG 1d, {symbol['rows']} bars), one after another:")
    print(f"  submit -> final event: {milliseconds(end_to_end(batch.runs))}")
    print(f"  POST alone:            {milliseconds([run.post_s for run in batch.runs])}")
    bench.report("small", [batch])


async def cold(bench: Bench, content: bytes) -> None:
    member = bench.member(0)
    uploads = [await upload(bench, content)]
    strategy_id = await member.strategy(BIG_STRATEGY)  # made once its symbol has bars
    batches = []
    for number in range(bench.args.cold_runs):
        if number:
            uploads.append(await upload(bench, content))
        batches.append(await bench.measure(lambda: in_turn(member, strategy_id, True, 1)))
    runs = [run for batch in batches for run in batch.runs]
    print(f"c) the first backtest of {bench.args.bars:,} one-minute bars after an upload:")
    print(f"  submit -> final event: {milliseconds(end_to_end(runs))}")
    print(f"  (each upload through the API: median {statistics.median(uploads):.1f} s)")
    bench.report("cold", batches)


def engine_seconds(bars: Bars) -> float:
    """The median time of BacktestEngine alone on `bars`, the big strategy, in this
    process (after a first run: compilation and imports are not the engine's time)."""
    from backend_services.services.backtest.backtest_engine import BacktestEngine
    from shared.contracts.backtests import ResolvedBacktest
    from shared.contracts.strategies import Costs, Orders, Rules

    backtest = ResolvedBacktest(
        symbol=BIG_SYMBOL,
        timeframe="1m",
        start_date=datetime(2000, 1, 1, tzinfo=UTC),
        end_date=datetime(2100, 1, 1, tzinfo=UTC),
        initial_capital=10_000,
        parameters=BIG_PARAMETERS,
        rules=Rules(),
        orders=Orders(),
        costs=Costs(commission_pct=0.001),
    )
    engine = BacktestEngine()
    engine.run(bars, backtest, "e2e")
    times = []
    for _ in range(ENGINE_REPEAT):
        started = time.perf_counter()
        engine.run(bars, backtest, "e2e")
        times.append(time.perf_counter() - started)
    return statistics.median(times)


async def warm(bench: Bench, bars: Bars, content: bytes) -> None:
    member = bench.member(0)
    if not bench.uploaded:
        await upload(bench, content)
    strategy_id = await member.strategy(BIG_STRATEGY)
    await warm_every_worker(member, strategy_id, True, bench.args.workers)
    batch = await bench.measure(lambda: in_turn(member, strategy_id, True, bench.args.warm_runs))
    engine_s = await asyncio.to_thread(engine_seconds, bars)
    end_to_end_s = statistics.median(end_to_end(batch.runs)) if batch.runs else float("nan")
    print(f"b) {bench.args.bars:,} one-minute bars already cached, one after another:")
    print(f"  submit -> final event: {milliseconds(end_to_end(batch.runs))}")
    print(f"  BacktestEngine alone, in this process: median {engine_s * 1e3:.0f} ms")
    print(f"  end to end / engine: {end_to_end_s / engine_s:.1f}x")
    bench.report("warm", [batch])


async def many(bench: Bench) -> None:
    clients = [bench.member(number) for number in range(bench.args.clients)]
    strategies = await asyncio.gather(*(client.strategy(SMALL_STRATEGY) for client in clients))
    numbers = iter(range(bench.args.many))  # shared: each client takes the next

    async def client_runs(client: Member, strategy_id: str) -> list[Run]:
        return [await one_backtest(client, strategy_id, False) for _ in numbers]

    async def all_runs() -> list[Run]:
        done = await asyncio.gather(
            *(client_runs(client, s) for client, s in zip(clients, strategies, strict=True))
        )
        return [run for runs in done for run in runs]

    batch = await bench.measure(all_runs)
    completed = [run for run in batch.runs if run.status == "completed"]
    ends = [run.final_at for run in batch.runs if run.final_at is not None]
    span = max(ends, default=time.time()) - min(run.submitted for run in batch.runs)
    print(f"d) {bench.args.many} small backtests from {bench.args.clients} members at once:")
    print(
        f"  {len(completed)} completed in {span:.1f} s: {len(completed) / span:.1f} backtests/s; "
        f"lost {len(batch.runs) - len(ends)}"
    )
    print(f"  submit -> final event: {milliseconds(end_to_end(batch.runs))}")
    bench.report("many", [batch])


async def run_parts(stack: ThrowawayStack, args: argparse.Namespace) -> list[str]:
    parts = set(args.only)
    async with httpx.AsyncClient(timeout=60) as http:
        bench = Bench(stack, args, http)
        try:
            member = bench.member(0)
            warm_up = await member.strategy(SMALL_STRATEGY | {"name": "e2e warm-up"})
            await warm_every_worker(member, warm_up, False, args.workers)
            await idle_background(bench)
            bars = minute_walk(args.bars, seed=BIG_SEED)
            content = parquet(bars) if parts & {"cold", "warm", "load"} else b""
            steps: dict[str, Callable[[], Awaitable[None]]] = {
                "small": lambda: small(bench),
                "cold": lambda: cold(bench, content),
                "warm": lambda: warm(bench, bars, content),
                "many": lambda: many(bench),
                "load": lambda: load(bench, content),
            }
            for part in PARTS:
                if part in parts:
                    # Other work on the machine shows in every figure: say how busy it was.
                    print(f"\n[{part}: the machine's load average {os.getloadavg()[0]:.1f}]")
                    await steps[part]()
        finally:
            for member in bench.members:
                await member.close()
    return bench.failures


def _parts(text: str) -> list[str]:
    parts = [part.strip() for part in text.split(",") if part.strip()]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown parts {unknown}; choose among {PARTS}")
    return parts


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--only", type=_parts, default=["small", "cold", "warm", "many"])
    parser.add_argument("--load", action="store_true", help="the load scenario alone")
    parser.add_argument("--runs", type=int, default=30, help="small backtests, in turn")
    parser.add_argument("--bars", type=int, default=1_000_000, help="the big series' bars")
    parser.add_argument("--cold-runs", type=int, default=3)
    parser.add_argument("--warm-runs", type=int, default=10)
    parser.add_argument("--many", type=int, default=300)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--members", type=int, default=50)
    parser.add_argument("--duration", type=float, default=120.0, help="seconds of load")
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="the compute service's WORKERS"
    )
    args = parser.parse_args()
    if args.load:
        args.only = ["load"]

    env = {"MAX_CONNECTIONS_PER_CLIENT": str(2 * max(args.members, args.clients) + 100)}
    compute_env = {"WORKERS": str(args.workers)}
    print(f"parts {','.join(args.only)}; compute WORKERS {args.workers}")
    with throwaway_stack("e2e", env, compute_env) as stack:
        failures = asyncio.run(run_parts(stack, args))
    for failure in failures:
        print(f"FAILED {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
