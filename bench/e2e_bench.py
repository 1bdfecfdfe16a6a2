"""The pieces of the end-to-end benchmark (bench/e2e.py) its parts share: the member's
strategies and ranges, a bench with its members and its checks, a batch of backtests
measured with the MongoDB commands the services sent meanwhile, and the upload of the
big series through the API."""

from __future__ import annotations

import argparse
import asyncio
import io
import statistics
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx
import pandas as pd
from e2e_member import Member, Run
from e2e_records import CommandCounts, command_counts, percentile, print_round_trips, print_stages
from throwaway_stack import ThrowawayStack

from backend.stores.tokens import issue_token
from backend.stores.users import USERS_COLLECTION
from shared.market_data.bars import Bars

__all__ = [
    "BIG_PARAMETERS",
    "BIG_PARAMS",
    "BIG_SEED",
    "BIG_STRATEGY",
    "BIG_SYMBOL",
    "BIG_TIMEOUT_S",
    "SETTLE_S",
    "SMALL_PARAMS",
    "SMALL_STRATEGY",
    "Batch",
    "Bench",
    "end_to_end",
    "idle_background",
    "in_turn",
    "milliseconds",
    "one_backtest",
    "parquet",
    "upload",
    "warm_every_worker",
]

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


def milliseconds(seconds: list[float]) -> str:
    if not seconds:
        return "none ended"
    return (
        f"median {statistics.median(seconds) * 1e3:.0f} ms, "
        f"p90 {percentile(seconds, 0.9) * 1e3:.0f} ms, "
        f"p99 {percentile(seconds, 0.99) * 1e3:.0f} ms (n={len(seconds)})"
    )


def end_to_end(runs: list[Run]) -> list[float]:
    return [seconds for run in runs if (seconds := run.end_to_end_s) is not None]


async def one_backtest(member: Member, strategy_id: str, big: bool) -> Run:
    params, timeout_s = (BIG_PARAMS, BIG_TIMEOUT_S) if big else (SMALL_PARAMS, SMALL_TIMEOUT_S)
    run = await member.submit(strategy_id, params, big)
    await member.follow(run, timeout_s)
    return run


async def in_turn(member: Member, strategy_id: str, big: bool, count: int) -> list[Run]:
    return [await one_backtest(member, strategy_id, big) for _ in range(count)]


async def warm_every_worker(member: Member, strategy_id: str, big: bool, workers: int) -> None:
    """Backtests at once, a few per worker, unmeasured: every worker has imported its
    modules, loaded its compiled code and (big) cached the bars, as on a running stack."""
    for _ in range(3):
        await asyncio.gather(*(one_backtest(member, strategy_id, big) for _ in range(workers)))


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


def parquet(bars: Bars) -> bytes:
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
