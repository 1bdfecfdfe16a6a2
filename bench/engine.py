"""Engine speed: this engine, backtesting.py and vectorbt on the same strategy.

    .venv/bin/pip install -e ".[bench]"   # backtesting and vectorbt
    .venv/bin/python bench/engine.py [--sizes 10000 100000 1000000] [--repeat 3]
                                     [--grid-bars 100000] [--grid-windows 46]

Single runs: the moving-average crossover (50/200 simple averages of the close, long
only), signals on a close filled at the next open, 0.1 % commission per fill, on a
synthetic random walk of one-minute bars. Each engine is timed from bars in memory to
its full statistics (this engine: a BacktestRun, its result with the first 1,000 trades
as models and the curves, and every trade as columns; backtesting.py: `Backtest.run()`;
vectorbt: `MA.run`, crossings, `Portfolio.from_signals` and `stats()`), the median of
--repeat runs after one warm-up run. Both this engine and vectorbt compile loops with
numba on their first call: that time is printed apart (this engine's in a fresh process
with an empty numba cache, then in another that loads the cache, as every worker after
the first does). Also prints the peak resident memory of a fresh process making this
engine's largest run (interpreter and libraries included) and the trades each engine made.

Indicators: a run on the largest size whose rules use TA-Lib's adx and stoch and the
Bollinger bands (`INDICATOR_RULES`), and a sweep of --adx-combinations over the ADX
period (10 values) and the threshold it must exceed, on --grid-bars bars: each in a
fresh process, after a warm-up on a few bars, with its time and peak resident memory.
--indicators-only runs these alone (no backtesting.py or vectorbt needed).

Grid: every fast < slow pair of --grid-windows windows (10, 12, 14, ...; 46 give 1,035
combinations) on --grid-bars bars, ranked by Sharpe ratio: this engine's parameter
sweep (`sweep.optimize`, which also runs the best combination in full) against
vectorbt's vectorised grid (`MA.run_combs`, crossings, `Portfolio.from_signals`,
`sharpe_ratio()`). Each grid runs in a fresh process, after a warm-up on a few bars, so
its peak resident memory (VmHWM) is its own.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from backend_services.services.backtest.backtest_engine import BacktestEngine
from backend_services.services.backtest.engine.sweep import optimize
from shared.contracts.backtests import ResolvedBacktest
from shared.contracts.strategies import Costs, Orders, Rules
from shared.contracts.sweeps import Sweep
from shared.market_data.bars import Bars

# backtesting.py's progress bar would garble the table; tqdm reads this when imported.
os.environ.setdefault("TQDM_DISABLE", "1")

# 50/200 rather than a faster pair: at a million bars a 10/30 crossover makes ~20,000
# round trips whose 0.1 % fees consume the account, after which each engine stops
# trading at a different point (whole units, minimum sizes), and they no longer run
# the same strategy. The capital keeps whole-unit sizing (backtesting.py) able to trade.
FAST, SLOW, COMMISSION, CAPITAL = 50, 200, 0.001, 1e9
# Fractional units in both engines: any capital gives the same returns.
GRID_CAPITAL = 1e6


def random_walk(count: int) -> Bars:
    rng = np.random.default_rng(11)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.001, count)))
    open_ = np.concatenate([[close[0]], close[:-1]]) * np.exp(rng.normal(0, 0.0002, count))
    return Bars(
        time=1_600_000_020 // 60 * 60 + 60 * np.arange(count, dtype=np.int64),
        open=open_,
        high=np.maximum(open_, close) * 1.0005,
        low=np.minimum(open_, close) * 0.9995,
        close=close,
        volume=np.full(count, 1_000.0),
    )


def crossover_backtest(fast: int, slow: int) -> ResolvedBacktest:
    return ResolvedBacktest(
        symbol="BENCH",
        timeframe="1m",
        start_date=datetime(2000, 1, 1, tzinfo=UTC),
        end_date=datetime(2100, 1, 1, tzinfo=UTC),
        initial_capital=CAPITAL,
        parameters={"fast": fast, "slow": slow},
        rules=Rules(),
        orders=Orders(),
        costs=Costs(commission_pct=COMMISSION),
    )


INDICATOR_RULES = Rules(
    long_entry="adx(high, low, close, period) > level"
    " and stoch_slowk(high, low, close) > stoch_slowd(high, low, close)",
    long_exit="close > bbands_upper(close, 20, 2, 2) or adx(period) < level - 5",
)
ADX_PERIODS = list(range(5, 55, 5))


def _indicator_backtest() -> ResolvedBacktest:
    return crossover_backtest(FAST, SLOW).model_copy(
        update={"parameters": {"period": 14, "level": 25}, "rules": INDICATOR_RULES}
    )


def _one_run_in_this_process(size: int, rules: str) -> tuple[float, float, int]:
    """(seconds, peak resident MB, trades) of one run with INDICATOR_RULES (`rules`
    "indicators") or the FAST/SLOW crossover ("crossover"), after a small warm-up run."""
    backtest = _indicator_backtest() if rules == "indicators" else crossover_backtest(FAST, SLOW)
    BacktestEngine().run(random_walk(2_000), backtest, "bench")
    bars = random_walk(size)
    started = time.perf_counter()
    trades = len(BacktestEngine().run(bars, backtest, "bench").trades)
    return time.perf_counter() - started, peak_resident_mb(), trades


def _adx_grid_in_this_process(size: int, combinations: int) -> tuple[float, float, str]:
    """(seconds, peak resident MB, summary) of a sweep over the ADX period and level."""
    levels = [round(10 + 40 * i / (combinations // len(ADX_PERIODS)), 4)
              for i in range(combinations // len(ADX_PERIODS))]  # fmt: skip
    backtest = _indicator_backtest().model_copy(update={"initial_capital": GRID_CAPITAL})
    optimize(random_walk(2_000), backtest, Sweep(grid={"period": [5, 10], "level": [20]}), "bench")
    bars = random_walk(size)
    started = time.perf_counter()
    _, optimization = optimize(
        bars, backtest, Sweep(grid={"period": ADX_PERIODS, "level": levels}), "bench"
    )
    seconds = time.perf_counter() - started
    [best] = optimization.ranked.rows(0, 1)
    return (
        seconds,
        peak_resident_mb(),
        f"{optimization.combinations} combinations, best {best.parameters}",
    )


def indicator_section(size: int, grid_bars: int, combinations: int) -> None:
    for rules, described in (
        ("indicators", "adx + stoch + bbands rules"),
        ("crossover", f"the {FAST}/{SLOW} crossover, beside them"),
    ):
        seconds, memory, trades = in_fresh_process(_one_run_in_this_process, size, rules)
        print(
            f"{size:>10,} bars, {described}: {seconds * 1e3:,.0f} ms, "
            f"peak {memory:,.0f} MB, {trades} trades"
        )
    seconds, memory, summary = in_fresh_process(_adx_grid_in_this_process, grid_bars, combinations)
    print(
        f"ADX period x threshold sweep on {grid_bars:,} bars: {seconds:.1f} s, "
        f"peak {memory:,.0f} MB, {summary}"
    )


def run_ours(bars: Bars) -> int:
    return len(BacktestEngine().run(bars, crossover_backtest(FAST, SLOW), "bench").trades)


def frame_of(bars: Bars) -> pd.DataFrame:
    index = pd.to_datetime(bars.time, unit="s")
    columns = {"Open": bars.open, "High": bars.high, "Low": bars.low, "Close": bars.close}
    return pd.DataFrame(columns | {"Volume": bars.volume}, index=index)


def run_backtesting_py(frame: pd.DataFrame) -> int:
    from backtesting import Backtest, Strategy
    from backtesting.lib import crossover

    class Crossover(Strategy):  # type: ignore[misc]
        def init(self) -> None:
            close = pd.Series(self.data.Close)
            self.fast = self.I(lambda: close.rolling(FAST).mean().to_numpy())
            self.slow = self.I(lambda: close.rolling(SLOW).mean().to_numpy())

        def next(self) -> None:
            if crossover(self.fast, self.slow):
                self.buy()
            elif crossover(self.slow, self.fast):
                self.position.close()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = Backtest(frame, Crossover, cash=CAPITAL, commission=COMMISSION).run()
    return int(run["# Trades"])


def run_vectorbt(frame: pd.DataFrame) -> int:
    import vectorbt as vbt

    close, open_ = frame["Close"], frame["Open"]
    fast, slow = vbt.MA.run(close, FAST), vbt.MA.run(close, SLOW)
    # Signals on a close, filled at the next open: shift them one bar, trade at the open.
    entries = fast.ma_crossed_above(slow).shift(1, fill_value=False)
    exits = fast.ma_crossed_below(slow).shift(1, fill_value=False)
    portfolio = vbt.Portfolio.from_signals(
        close, entries, exits, price=open_, fees=COMMISSION, init_cash=CAPITAL, freq="1min"
    )
    portfolio.stats()
    return int(portfolio.trades.count())


def grid_windows(count: int) -> list[int]:
    return list(range(10, 10 + 2 * count, 2))


def grid_ours(bars: Bars, windows: list[int]) -> str:
    backtest = crossover_backtest(FAST, SLOW).model_copy(update={"initial_capital": GRID_CAPITAL})
    sweep = Sweep(grid={"fast": windows, "slow": windows}, constraint="fast < slow")
    _, optimization = optimize(bars, backtest, sweep, "bench")
    [best] = optimization.ranked.rows(0, 1)
    return f"{optimization.combinations} combinations, best {best.parameters}"


def grid_vectorbt(bars: Bars, windows: list[int]) -> str:
    import vectorbt as vbt

    frame = frame_of(bars)
    close, open_ = frame["Close"], frame["Open"]
    fast, slow = vbt.MA.run_combs(close, window=windows, r=2, short_names=["fast", "slow"])
    entries = fast.ma_crossed_above(slow).shift(1, fill_value=False)
    exits = fast.ma_crossed_below(slow).shift(1, fill_value=False)
    portfolio = vbt.Portfolio.from_signals(
        close, entries, exits, price=open_, fees=COMMISSION, init_cash=GRID_CAPITAL, freq="1min"
    )
    sharpe = portfolio.sharpe_ratio()
    fast_window, slow_window = sharpe.idxmax()
    return f"{sharpe.shape[0]} combinations, best {{'fast': {fast_window}, 'slow': {slow_window}}}"


def _grid_in_this_process(engine: str, size: int, windows: int) -> tuple[float, float, str]:
    """(seconds, peak resident MB, summary) of one grid, after a warm-up on few bars."""
    run = grid_ours if engine == "this engine" else grid_vectorbt
    run(random_walk(2_000), grid_windows(4))
    bars = random_walk(size)
    started = time.perf_counter()
    summary = run(bars, grid_windows(windows))
    seconds = time.perf_counter() - started
    return seconds, peak_resident_mb(), summary


def peak_resident_mb() -> float:
    """This process's peak resident memory. Linux keeps ru_maxrss across exec, so a
    spawned child would report its parent's peak: read the high-water mark of its own
    address space instead where there is one."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(action: Callable[[], int], repeat: int) -> tuple[float, int]:
    trades = action()  # warm-up: imports, caches, compilation
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times), trades


def in_fresh_process(action: Callable[..., Any], *args: Any, numba_cache: str | None = None) -> Any:
    """`action(*args)` in a new interpreter, with NUMBA_CACHE_DIR set to `numba_cache`
    for it when given."""
    saved = os.environ.get("NUMBA_CACHE_DIR")
    if numba_cache is not None:
        os.environ["NUMBA_CACHE_DIR"] = numba_cache
    try:
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            return pool.submit(action, *args).result()
    finally:
        if saved is None:
            os.environ.pop("NUMBA_CACHE_DIR", None)
        else:
            os.environ["NUMBA_CACHE_DIR"] = saved


def _first_call_s(size: int) -> float:
    bars = random_walk(size)
    started = time.perf_counter()
    run_ours(bars)
    return time.perf_counter() - started


def _peak_of_one_run_mb(size: int) -> float:
    run_ours(random_walk(size))
    return peak_resident_mb()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--grid-bars", type=int, default=100_000)
    parser.add_argument("--grid-windows", type=int, default=46)
    parser.add_argument(
        "--backtesting-py-max-bars",
        type=int,
        default=1_000_000,
        help="skip backtesting.py above this many bars (it takes about a minute per million)",
    )
    parser.add_argument("--adx-combinations", type=int, default=1_000)
    parser.add_argument(
        "--indicators-only", action="store_true", help="only the TA-Lib indicator timings"
    )
    args = parser.parse_args()
    if args.indicators_only:
        indicator_section(args.sizes[-1], args.grid_bars, args.adx_combinations)
        return 0

    with tempfile.TemporaryDirectory() as cache:
        compiling = in_fresh_process(_first_call_s, args.sizes[0], numba_cache=cache)
        cached = in_fresh_process(_first_call_s, args.sizes[0], numba_cache=cache)
    print(
        f"this engine first call: {compiling:.1f} s compiling (empty numba cache), "
        f"{cached:.2f} s loading the compiled code from the disk cache"
    )
    first_frame = frame_of(random_walk(args.sizes[0]))
    started = time.perf_counter()
    run_vectorbt(first_frame)
    print(f"vectorbt first call (numba compilation): {time.perf_counter() - started:.1f} s")

    print(f"{'bars':>10} {'engine':>14} {'time':>10} {'trades':>7} {'ratio':>12}")
    for size in args.sizes:
        bars = random_walk(size)
        frame = frame_of(bars)
        ours, our_trades = timed(partial(run_ours, bars), args.repeat)
        vectorbt, vbt_trades = timed(partial(run_vectorbt, frame), args.repeat)
        rows = [("this engine", ours, our_trades, ""), ("vectorbt", vectorbt, vbt_trades, "")]
        if size <= args.backtesting_py_max_bars:
            reference, bt_trades = timed(partial(run_backtesting_py, frame), 1)
            rows.append(("backtesting.py", reference, bt_trades, ""))
        for name, seconds, trades, _ in rows:
            ratio = "" if name == "this engine" else f"{seconds / ours:.1f}x slower"
            print(f"{size:>10,} {name:>14} {seconds * 1e3:>8.1f}ms {trades:>7} {ratio:>12}")
    memory = in_fresh_process(_peak_of_one_run_mb, args.sizes[-1])
    print(
        f"{args.sizes[-1]:>10,} {'this engine':>14} peak resident memory of the whole "
        f"process: {memory:,.0f} MB"
    )

    print(f"grid: fast < slow of {args.grid_windows} windows on {args.grid_bars:,} bars")
    grid, vbt_grid = (
        in_fresh_process(_grid_in_this_process, engine, args.grid_bars, args.grid_windows)
        for engine in ("this engine", "vectorbt")
    )
    for name, (seconds, memory, summary) in (("this engine", grid), ("vectorbt", vbt_grid)):
        print(f"{name:>14} {seconds:>7.1f} s  peak {memory:>7,.0f} MB  {summary}")
    print(
        f"vectorbt's grid is {vbt_grid[0] / grid[0]:.1f}x slower "
        f"and peaks at {vbt_grid[1] / grid[1]:.1f}x the memory"
    )
    indicator_section(args.sizes[-1], args.grid_bars, args.adx_combinations)
    return 0


if __name__ == "__main__":
    sys.exit(main())
