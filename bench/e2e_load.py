"""The load scenario of the end-to-end benchmark (bench/e2e.py --load): members for a
bounded time, half polling `GET /api/backtest/{id}` every 0.5 s on their running
backtest, half following it over Server-Sent Events, each submitting a new one when it
ends, one in ten on the big series."""

from __future__ import annotations

import asyncio
import itertools
import time

from e2e_bench import (
    BIG_PARAMS,
    BIG_STRATEGY,
    BIG_TIMEOUT_S,
    SETTLE_S,
    SMALL_PARAMS,
    SMALL_STRATEGY,
    Bench,
    end_to_end,
    milliseconds,
    upload,
    warm_every_worker,
)
from e2e_member import POLL_INTERVAL_S, Run
from e2e_records import print_round_trips, print_stages

__all__ = ["load"]


async def load(bench: Bench, content: bytes) -> None:
    if not bench.uploaded:
        await upload(bench, content)
    members = [bench.member(number) for number in range(bench.args.members)]
    small_ids = await asyncio.gather(*(member.strategy(SMALL_STRATEGY) for member in members))
    big_ids = await asyncio.gather(*(member.strategy(BIG_STRATEGY) for member in members))
    await warm_every_worker(members[0], big_ids[0], True, bench.args.workers)
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
        f"  GET /api/backtest/{{id}}: {milliseconds(get_latencies)}, "
        f"max {max(get_latencies, default=0) * 1e3:.0f} ms"
    )
    print(
        f"  {len(completed)} completed in {span:.0f} s: {len(completed) / span:.2f} backtests/s "
        f"({sum(run.big for run in completed)} big)"
    )
    for big, kind in ((False, "small"), (True, "big")):
        runs = [run for run in batch.runs if run.big == big]
        if runs:
            print(f"  {kind} submit -> final (SSE or poll): {milliseconds(end_to_end(runs))}")
            print_stages(f"load, {kind}", bench.stack.database, runs)
    print_round_trips(batch.spent, len(batch.runs), bench.idle_per_s, batch.seconds)
    bench.check("load", batch.runs)
