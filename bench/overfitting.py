"""What the honest optimizer costs a large sweep: a grid of --fast x --slow moving-average
windows (100 x 100 = 10,000 combinations) on --bars minute bars, and the share of it
spent on the Deflated Sharpe Ratio and the PBO; and a TPE search's own cost per trial.

    .venv/bin/python bench/overfitting.py [--bars 10000] [--fast 100] [--slow 100]
                                          [--trials 500]

Prints: the whole sweep (`sweep.optimize`: every combination, the ranking, the two
measures and the best run in full); the per-block moments of every combination's
returns, timed alone over the same number of equity curves; the DSR and the PBO over
them (C(16, 8) = 12,870 splits); and a TPE search of --trials trials on a cheap
objective, which is Optuna's own time per trial (its sampler looks at every earlier
trial). A warm-up on a few bars compiles the loops first. Times are of the CPU (the
process's own, every part single-threaded), so a machine shared with other work still
gives the parts' true shares.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from engine import GRID_CAPITAL
from engine import crossover_backtest as grid_backtest
from synthetic import minute_walk

from backend_services.services.backtest.engine.overfitting import (
    BLOCKS,
    block_moments,
    deflated_sharpe,
    probability_of_backtest_overfitting,
)
from backend_services.services.backtest.engine.sweep import optimize
from backend_services.services.backtest.execution.search import optuna_search
from shared.contracts.sweeps import Sweep


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=10_000)
    parser.add_argument("--fast", type=int, default=100)
    parser.add_argument("--slow", type=int, default=100)
    parser.add_argument("--trials", type=int, default=500)
    args = parser.parse_args()
    backtest = grid_backtest(10, 30).model_copy(update={"initial_capital": GRID_CAPITAL})
    optimize(minute_walk(500, seed=1), backtest, Sweep(grid={"fast": [2, 3]}), "warm-up")

    bars = minute_walk(args.bars, seed=7)
    sweep = Sweep(
        grid={"fast": list(range(2, 2 + args.fast)), "slow": list(range(5, 5 + 2 * args.slow, 2))}
    )
    started = time.process_time()
    _, optimization = optimize(bars, backtest, sweep, "bench")
    whole = time.process_time() - started
    count = optimization.combinations

    equity = 1e6 * np.cumprod(1 + np.random.default_rng(3).normal(0, 1e-3, args.bars))
    started = time.process_time()
    moments = np.stack([block_moments(equity, BLOCKS) for _ in range(count)])
    moments_s = time.process_time() - started
    moments[:, 1, :] += np.random.default_rng(4).normal(0, 1e-4, (count, BLOCKS))
    started = time.process_time()
    dsr = deflated_sharpe(moments, 0)
    dsr_s = time.process_time() - started
    started = time.process_time()
    pbo = probability_of_backtest_overfitting(moments)
    pbo_s = time.process_time() - started

    extra = moments_s + dsr_s + pbo_s
    print(f"grid of {count:,} combinations on {args.bars:,} bars: {whole:.2f} s in all")
    print(f"  block moments of {count:,} curves: {moments_s:.3f} s")
    print(f"  deflated Sharpe ratio: {dsr_s * 1000:.1f} ms ({dsr is not None})")
    print(f"  PBO over {pbo.splits if pbo else 0:,} splits: {pbo_s:.3f} s")
    share = 100 * extra / whole
    print(f"  the honest optimizer's share: {extra:.2f} s, {share:.1f} % of the sweep")

    search = Sweep(
        method="tpe",
        ranges={name: {"low": 1, "high": 500, "integer": True} for name in ("fast", "slow")},
        trials=args.trials,
    )

    def bowl(combination: dict[str, float]) -> float:
        return -float((combination["fast"] - 120) ** 2 + (combination["slow"] - 300) ** 2)

    started = time.process_time()
    optuna_search(search, lambda combination: True, bowl, lambda fraction: None)
    search_s = time.process_time() - started
    print(
        f"TPE sampler alone, {args.trials} trials: {search_s:.2f} s, "
        f"{1000 * search_s / args.trials:.1f} ms per trial"
    )


if __name__ == "__main__":
    main()
