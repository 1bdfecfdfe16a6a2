"""A portfolio's time and memory: one strategy over --symbols series of --bars
one-minute bars each, with one account.

    .venv/bin/python bench/portfolio.py [--symbols 10] [--bars 1000000] [--repeat 3]

The strategy is the 50/200 moving-average crossover (long only, 0.1 % commission,
filled at the next open). The series are random walks; every other one lacks one bar
in 97, so the calendars differ and the portfolio's is their union. Each case runs in a
fresh process after a warm-up on a few bars: without rebalancing (each symbol's share a
single backtest), rebalanced daily, and rebalanced every bar (the most work the shared
account can be given). It prints the median time of --repeat runs from bars in memory
to the full result (statistics, curves, contributions, correlations, the first 1,000
trades as models, every trade as columns), the memory the bars take, the process's
resident memory before the first run and its peak, and for comparison the time of the
single backtests of the same series one after another.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np
from engine import crossover_backtest, peak_resident_mb
from synthetic import minute_walk

from backend_services.services.backtest.backtest_engine import BacktestEngine
from shared.contracts.portfolios import Portfolio
from shared.market_data.bars import Bars

BACKTEST = crossover_backtest(50, 200)
CASES: dict[str, Any] = {
    "never rebalanced": "never",
    "rebalanced daily": {"every": 1, "unit": "days"},
    "rebalanced every bar": {"every": 1, "unit": "bars"},
}


def _series(symbols: int, bars: int) -> list[tuple[str, Bars]]:
    members = []
    for k in range(symbols):
        walk = minute_walk(bars, seed=100 + k)
        if k % 2:
            kept = np.ones(bars, dtype=bool)
            kept[96::97] = False
            walk = walk.take(kept)
        members.append((f"S{k}", walk))
    return members


def _resident_mb() -> float:
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def _case(symbols: int, bars: int, rebalance: Any, repeat: int) -> dict[str, Any]:
    """One case in this (fresh) process: times, trades and memory."""
    engine = BacktestEngine()
    portfolio = Portfolio(symbols=[f"S{k}" for k in range(symbols)], rebalance=rebalance)
    small = [(name, series.take(slice(0, 2_000))) for name, series in _series(symbols, 2_000)]
    engine.portfolio(small, BACKTEST, portfolio, "warm-up", [1] * symbols)
    members = _series(symbols, bars)
    bars_mb = sum(series.nbytes for _, series in members) / 2**20
    before_mb = _resident_mb()
    times, trades = [], 0
    for _ in range(repeat):
        started = time.perf_counter()
        run = engine.portfolio(members, BACKTEST, portfolio, "bench", [1] * symbols)
        times.append(time.perf_counter() - started)
        trades = len(run.trades)
    return {
        "seconds": statistics.median(times),
        "trades": trades,
        "calendar": run.result.bars,
        "bars_mb": bars_mb,
        "before_mb": before_mb,
        "peak_mb": peak_resident_mb(),
    }


def _singles(symbols: int, bars: int, repeat: int) -> float:
    """The single backtests of the same series, one after another (median seconds)."""
    engine = BacktestEngine()
    members = _series(symbols, bars)
    engine.run(members[0][1].take(slice(0, 2_000)), BACKTEST, "warm-up")
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        for name, series in members:
            engine.run(series, BACKTEST.model_copy(update={"symbol": name}), "bench")
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=10)
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    spawn = multiprocessing.get_context("spawn")
    print(f"{args.symbols} symbols x {args.bars:,} one-minute bars, SMA 50/200 crossover")
    for name, rebalance in CASES.items():
        with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as fresh:
            case = fresh.submit(_case, args.symbols, args.bars, rebalance, args.repeat).result()
        print(
            f"  {name:<22}{case['seconds']:8.2f} s  {case['trades']:>7,} trades on "
            f"{case['calendar']:,} calendar bars; bars {case['bars_mb']:,.0f} MB, resident "
            f"{case['before_mb']:,.0f} MB before the run, peak {case['peak_mb']:,.0f} MB"
        )
    with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as fresh:
        singles = fresh.submit(_singles, args.symbols, args.bars, args.repeat).result()
    print(f"  {args.symbols} single backtests     {singles:8.2f} s")


if __name__ == "__main__":
    main()
