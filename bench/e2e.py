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
import io
import itertools
import os
import statistics
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from e2e_member import POLL_INTERVAL_S, Member, Run
from e2e_records import CommandCounts, command_counts, percentile, print_round_trips, print_stages
from synthetic import minute_walk
from throwaway_stack import ThrowawayStack, throwaway_stack

from backend.tokens import issue_token
from backend.users import USERS_COLLECTION
from shared.market_data.bars import Bars

PARTS = ("small", "cold", "warm", "many", "load")
SMALL_STRATEGY = {
    "name": "e2e small",
    "symbol": "GOOG",
    "timeframe": "1d",
    "parameters": {"fast": 10, "slow": 30},
    "costs": {"commission_pct": 0.001},
}
SMALL_PARAMS = {"start_date": "2004-01-01T00:00:00Z", "end_date": "2014-01-01T00:00:00Z"}
BIG_SYMBOL = "E2EMINUTES"
BIG_SEED = 21
# 50/200: the pair bench/engine.py times, a realistic trade count on a million bars.
BIG_PARAMETERS = {"fast": 50, "slow": 200}
BIG_STRATEGY = SMALL_STRATEGY | {
    "name": "e2e big",
    "symbol": BIG_SYMBOL,
    "timeframe": "1m",
    "parameters": BIG_PARAMETERS,
}
BIG_PARAMS = {"start_date": "2000-01-01T00:00:00Z", "end_date": "2100-01-01T00:00:00Z"}
SMALL_TIMEOUT_S = 60.0
BIG_TIMEOUT_S = 300.0
UPLOAD_TIMEOUT_S = 600.0
IDLE_S = 5.0
# Writes that follow a final event (the delivery's acknowledgement) land within this.
SETTLE_S = 1.0
ENGINE_REPEAT = 5


@dataclass
class Batch:
    """Backtests measured together, with the commands the services sent meanwhile."""

    runs: list[Run]
    spent: CommandCounts
    seconds: float


@dataclass
class Bench:
    stack: ThrowawayStack
    args: argparse.Namespace
    http: httpx.AsyncClient
    members: list[Member] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    idle_per_s: float = 0.0
    # What reading both services' /metrics costs, taken out of every batch.
    reading_cost: CommandCounts = field(default_factory=Counter)
    uploaded: bool = False

    @property
    def service_urls(self) -> dict[str, str]:
        return {"api": self.stack.api_url, "compute": self.stack.services_url}

    def member(self, number: int) -> Member:
        while len(self.members) <= number:
            name = f"e2e-{len(self.members)}"
            _, token = issue_token(self.stack.database[USERS_COLLECTION], name)
            self.members.append(Member(self.stack.api_url, token))
        return self.members[number]

    async def counts(self) -> CommandCounts:
        return await command_counts(self.http, self.service_urls)

    async def measure(self, backtests: Callable[[], Awaitable[list[Run]]]) -> Batch:
        before = await self.counts()
        started = time.monotonic()
        runs = await backtests()
        await asyncio.sleep(SETTLE_S)
        seconds = time.monotonic() - started
        spent = await self.counts() - before - self.reading_cost
        return Batch(runs, spent, seconds)

    def check(self, title: str, runs: list[Run]) -> None:
        lost = [run.backtest_id for run in runs if run.final_at is None]
        failed = [
            f"{run.backtest_id} {run.status}"
            for run in runs
            if run.final_at is not None and run.status != "completed"
        ]
        cached = [run.backtest_id for run in runs if run.cached]
        print(
            f"  checks: {len(runs)} backtests, lost {len(lost)}, not completed {len(failed)}, "
            f"answered from the cache {len(cached)}"
        )
        for what, which in (("lost (no final state)", lost), ("not completed", failed)):
            if which:
                self.failures.append(f"{title}: {len(which)} {what}: {which[:5]}")
        if cached:
            self.failures.append(f"{title}: {len(cached)} answered from the result cache")

    def report(self, title: str, batches: list[Batch]) -> None:
        runs = [run for batch in batches for run in batch.runs]
        spent: CommandCounts = sum((batch.spent for batch in batches), Counter())
        seconds = sum(batch.seconds for batch in batches)
        print_stages(title, self.stack.database, runs)
        print_round_trips(spent, len(runs), self.idle_per_s, seconds)
        self.check(title, runs)


def _ms(seconds: list[float]) -> str:
    if not seconds:
        return "none ended"
    return (
        f"median {statistics.median(seconds) * 1e3:.0f} ms, "
        f"p90 {percentile(seconds, 0.9) * 1e3:.0f} ms, "
        f"p99 {percentile(seconds, 0.99) * 1e3:.0f} ms (n={len(seconds)})"
    )


def _end_to_end(runs: list[Run]) -> list[float]:
    return [seconds for run in runs if (seconds := run.end_to_end_s) is not None]


async def _one(member: Member, strategy_id: str, big: bool) -> Run:
    params, timeout_s = (BIG_PARAMS, BIG_TIMEOUT_S) if big else (SMALL_PARAMS, SMALL_TIMEOUT_S)
    run = await member.submit(strategy_id, params, big)
    await member.follow(run, timeout_s)
    return run


async def _in_turn(member: Member, strategy_id: str, big: bool, count: int) -> list[Run]:
    return [await _one(member, strategy_id, big) for _ in range(count)]


async def _warm_every_worker(member: Member, strategy_id: str, big: bool, workers: int) -> None:
    """Backtests at once, a few per worker, unmeasured: every worker has imported its
    modules, loaded its compiled code and (big) cached the bars, as on a running stack."""
    for _ in range(3):
        await asyncio.gather(*(_one(member, strategy_id, big) for _ in range(workers)))


async def idle_background(bench: Bench) -> None:
    """What reading /metrics costs, and what the services send with nothing to do."""
    reads = []
    for _ in range(3):
        first = await bench.counts()
        reads.append(await bench.counts() - first)
    bench.reading_cost = Counter(
        {key: min(read[key] for read in reads) for key in set().union(*reads)}
    )
    await asyncio.sleep(SETTLE_S)
    before = await bench.counts()
    await asyncio.sleep(IDLE_S)
    idle = await bench.counts() - before - bench.reading_cost
    bench.idle_per_s = sum(idle.values()) / IDLE_S
    listed = ", ".join(f"{service} {name} {count / IDLE_S:.1f}" for (service, name), count in
                       sorted(idle.items(), key=lambda item: -item[1]))  # fmt: skip
    print(f"idle background: {bench.idle_per_s:.1f} MongoDB commands/s ({listed})")


async def small(bench: Bench) -> None:
    member = bench.member(0)
    strategy_id = await member.strategy(SMALL_STRATEGY)
    symbol = (await member.http.get("/api/market-data/symbols/GOOG")).json()
    batch = await bench.measure(lambda: _in_turn(member, strategy_id, False, bench.args.runs))
    print(f"a) a small backtest (GOOG 1d, {symbol['rows']} bars), one after another:")
    print(f"  submit -> final event: {_ms(_end_to_end(batch.runs))}")
    print(f"  POST alone:            {_ms([run.post_s for run in batch.runs])}")
    bench.report("small", [batch])


def _parquet(bars: Bars) -> bytes:
    columns = {"timestamp": bars.time, "open": bars.open, "high": bars.high, "low": bars.low}
    frame = pd.DataFrame(columns | {"close": bars.close, "volume": bars.volume})
    body = io.BytesIO()
    frame.to_parquet(body, index=False)
    return body.getvalue()


async def upload(bench: Bench, content: bytes) -> float:
    """Replace the big symbol's bars through the API, as a member would; its seconds."""
    started = time.perf_counter()
    response = await bench.member(0).http.post(
        f"/api/market-data/symbols/{BIG_SYMBOL}",
        content=content,
        headers={"Content-Type": "application/vnd.apache.parquet"},
        timeout=UPLOAD_TIMEOUT_S,
    )
    if response.status_code not in (200, 201):
        raise RuntimeError(f"upload: {response.status_code} {response.text[:300]}")
    bench.uploaded = True
    return time.perf_counter() - started


async def cold(bench: Bench, content: bytes) -> None:
    member = bench.member(0)
    uploads = [await upload(bench, content)]
    strategy_id = await member.strategy(BIG_STRATEGY)  # made once its symbol has bars
    batches = []
    for number in range(bench.args.cold_runs):
        if number:
            uploads.append(await upload(bench, content))
        batches.append(await bench.measure(lambda: _in_turn(member, strategy_id, True, 1)))
    runs = [run for batch in batches for run in batch.runs]
    print(f"c) the first backtest of {bench.args.bars:,} one-minute bars after an upload:")
    print(f"  submit -> final event: {_ms(_end_to_end(runs))}")
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
    await _warm_every_worker(member, strategy_id, True, bench.args.workers)
    batch = await bench.measure(lambda: _in_turn(member, strategy_id, True, bench.args.warm_runs))
    engine_s = await asyncio.to_thread(engine_seconds, bars)
    end_to_end = statistics.median(_end_to_end(batch.runs)) if batch.runs else float("nan")
    print(f"b) {bench.args.bars:,} one-minute bars already cached, one after another:")
    print(f"  submit -> final event: {_ms(_end_to_end(batch.runs))}")
    print(f"  BacktestEngine alone, in this process: median {engine_s * 1e3:.0f} ms")
    print(f"  end to end / engine: {end_to_end / engine_s:.1f}x")
    bench.report("warm", [batch])


async def many(bench: Bench) -> None:
    clients = [bench.member(number) for number in range(bench.args.clients)]
    strategies = await asyncio.gather(*(client.strategy(SMALL_STRATEGY) for client in clients))
    numbers = iter(range(bench.args.many))  # shared: each client takes the next

    async def client_runs(client: Member, strategy_id: str) -> list[Run]:
        return [await _one(client, strategy_id, False) for _ in numbers]

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
    print(f"  submit -> final event: {_ms(_end_to_end(batch.runs))}")
    bench.report("many", [batch])


async def load(bench: Bench, content: bytes) -> None:
    if not bench.uploaded:
        await upload(bench, content)
    members = [bench.member(number) for number in range(bench.args.members)]
    small_ids = await asyncio.gather(*(member.strategy(SMALL_STRATEGY) for member in members))
    big_ids = await asyncio.gather(*(member.strategy(BIG_STRATEGY) for member in members))
    await _warm_every_worker(members[0], big_ids[0], True, bench.args.workers)
    numbers = itertools.count()
    get_latencies: list[float] = []
    started = time.monotonic()
    submitting_until = started + bench.args.duration
    drain_deadline = submitting_until + BIG_TIMEOUT_S

    async def member_runs(index: int) -> list[Run]:
        member, runs = members[index], []
        while time.monotonic() < submitting_until:
            big = next(numbers) % 10 == 9
            run = await member.submit(big_ids[index] if big else small_ids[index],
                                      BIG_PARAMS if big else SMALL_PARAMS, big)  # fmt: skip
            if run.status and run.status.startswith("refused"):
                await asyncio.sleep(POLL_INTERVAL_S)  # the member tries again shortly
            elif index % 2:
                await member.follow(run, drain_deadline - time.monotonic())
            else:
                await member.poll(run, get_latencies, drain_deadline)
            runs.append(run)
        return runs

    async def all_runs() -> list[Run]:
        done = await asyncio.gather(*(member_runs(index) for index in range(len(members))))
        return [run for runs in done for run in runs]

    batch = await bench.measure(all_runs)
    completed = [run for run in batch.runs if run.status == "completed"]
    span = time.monotonic() - started - SETTLE_S
    print(
        f"f) load: {len(members)} members for {bench.args.duration:.0f} s "
        f"(half polling GET /api/backtest/{{id}} every 0.5 s, half on SSE, one run in ten big):"
    )
    print(
        f"  GET /api/backtest/{{id}}: {_ms(get_latencies)}, "
        f"max {max(get_latencies, default=0) * 1e3:.0f} ms"
    )
    print(
        f"  {len(completed)} completed in {span:.0f} s: {len(completed) / span:.2f} backtests/s "
        f"({sum(run.big for run in completed)} big)"
    )
    for big, kind in ((False, "small"), (True, "big")):
        runs = [run for run in batch.runs if run.big == big]
        if runs:
            print(f"  {kind} submit -> final (SSE or poll): {_ms(_end_to_end(runs))}")
            print_stages(f"load, {kind}", bench.stack.database, runs)
    print_round_trips(batch.spent, len(batch.runs), bench.idle_per_s, batch.seconds)
    bench.check("load", batch.runs)


async def run_parts(stack: ThrowawayStack, args: argparse.Namespace) -> list[str]:
    parts = set(args.only)
    async with httpx.AsyncClient(timeout=60) as http:
        bench = Bench(stack, args, http)
        try:
            member = bench.member(0)
            warm_up = await member.strategy(SMALL_STRATEGY | {"name": "e2e warm-up"})
            await _warm_every_worker(member, warm_up, False, args.workers)
            await idle_background(bench)
            bars = minute_walk(args.bars, seed=BIG_SEED)
            content = _parquet(bars) if parts & {"cold", "warm", "load"} else b""
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
