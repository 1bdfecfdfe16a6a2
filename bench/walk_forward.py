"""Walk-forward speed: a 1,000-combination sweep validated over 10 rolling windows of
100,000 one-minute bars, its windows trained by one worker process and by two.

    .venv/bin/python bench/walk_forward.py [--bars 100000] [--windows 10] [--workers 1 2]

The grid: every (fast, slow) of 10 fast and 100 slow simple-average periods of a long
crossover (1,000 combinations), ranked by Sharpe ratio. The windows: train four times
as long as test, rolling by the test length, so that exactly --windows fit the bars.
Each window's optimization is the unit a fleet fans out (`train_window`, what a part of
`fanned_windows` runs): here a pool of --workers processes trains them, as a fleet's
workers would, and the process that owns the run stitches the test runs. Each setting
runs in a fresh process after a warm-up on a few bars (compiled loops loaded); the time
is from the bars in memory to the stitched result. Peak resident memory (VmHWM) is the
owner's and the largest of its workers'; a fleet's workers are processes of their own.
The result is checked to be the same whatever the number of workers. "busiest CPU s"
is the CPU time of the worker that trained longest: the wall time the training takes
when every worker has a core to itself, whatever else the machine runs.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from functools import partial

from synthetic import minute_walk

from backend_services.services.backtest.backtest_engine import BacktestEngine, WindowSpan
from shared.contracts.backtests import ResolvedBacktest
from shared.contracts.strategies import Costs, Orders, Rules
from shared.contracts.sweeps import Sweep, SweepRow
from shared.contracts.validation import Validation
from shared.market_data.bars import Bars

FAST = list(range(5, 55, 5))
SLOW = list(range(60, 1_060, 10))
TEST_SHARE = 5  # train is four tests long: bars = (4 + windows) tests


def backtest() -> ResolvedBacktest:
    return ResolvedBacktest(
        symbol="WALK",
        timeframe="1m",
        start_date=datetime(2000, 1, 1, tzinfo=UTC),
        end_date=datetime(2100, 1, 1, tzinfo=UTC),
        initial_capital=1e6,
        parameters={"fast": 10, "slow": 100},
        rules=Rules(
            long_entry="crossover(sma(close, fast), sma(close, slow))",
            long_exit="crossunder(sma(close, fast), sma(close, slow))",
        ),
        orders=Orders(),
        costs=Costs(commission_pct=0.001),
    )


SWEEP = Sweep(grid={"fast": FAST, "slow": SLOW}, objective="sharpe_ratio")


def peak_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _warm_up() -> None:
    bars = minute_walk(3_000, seed=2)
    engine = BacktestEngine()
    [span] = engine.windows(bars, backtest(), Validation(train=2_000, test=1_000))
    engine.train_window(bars, backtest(), Sweep(grid={"fast": [5], "slow": [60]}), span)


def _train(bars: Bars, span: WindowSpan) -> tuple[SweepRow, float, int, float]:
    """The window's winner, the worker's peak MB, its pid and the CPU seconds taken."""
    cpu = time.process_time()
    row = BacktestEngine().train_window(bars, backtest(), SWEEP, span).rows[0]
    return row, peak_mb(), os.getpid(), time.process_time() - cpu


def measure(count: int, windows: int, workers: int) -> tuple[float, float, float, float, str]:
    """Seconds, the owner's and the largest worker's peak MB, the most CPU seconds a
    worker spent training, and the outcome's digest."""
    _warm_up()
    bars = minute_walk(count, seed=7)
    test = count // (windows + TEST_SHARE - 1)
    validation = Validation(train=4 * test, test=test)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_warm_up) as pool:
        list(pool.map(_warm_up_done, range(workers)))  # every worker ready before the clock
        started = time.perf_counter()
        engine = BacktestEngine()
        spans = engine.windows(bars, backtest(), validation)
        assert len(spans) == windows, len(spans)
        trained = list(pool.map(partial(_train, bars), spans))
        run, outcome = engine.stitch(
            bars, backtest(), SWEEP, validation, spans, [t[0] for t in trained], "bench"
        )
        seconds = time.perf_counter() - started
    digest = f"{run.result.final_equity:.6f} {[w.parameters for w in outcome.windows]}"
    cpu: dict[int, float] = {}
    for _, _, pid, spent in trained:
        cpu[pid] = cpu.get(pid, 0.0) + spent
    return seconds, peak_mb(), max(t[1] for t in trained), max(cpu.values()), digest


def _warm_up_done(_: int) -> None:
    time.sleep(0.2)  # lets each pool process take one, so all have started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=100_000)
    parser.add_argument("--windows", type=int, default=10)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    combinations = len(SWEEP.combinations(backtest().parameters))
    print(f"{combinations:,} combinations x {args.windows} windows on {args.bars:,} bars")
    print(f"{'workers':>8} {'seconds':>9} {'busiest CPU s':>14} {'owner MB':>9} {'worker MB':>10}")
    digests = set()
    context = multiprocessing.get_context("spawn")
    for workers in args.workers:
        with ProcessPoolExecutor(1, mp_context=context) as fresh:
            seconds, owner, worker, busiest, digest = fresh.submit(
                measure, args.bars, args.windows, workers
            ).result()
        digests.add(digest)
        print(f"{workers:>8} {seconds:>9.2f} {busiest:>14.2f} {owner:>9.0f} {worker:>10.0f}")
    assert len(digests) == 1, "the outcome depends on the number of workers"
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
