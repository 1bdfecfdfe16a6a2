"""Walk-forward validation: optimize on each window's train bars, trade the winner on the
test bars that follow, and stitch the test segments into one out-of-sample run.

No look-ahead: a window's optimization is given its train bars only. Its test run
computes the rules over the train and test bars together, so indicators have warmed up
by the first test bar, but keeps only the signals inside the test window: every trade
opens and closes there (a position still open at its end is closed, as at the end of
any run). Each test segment starts with the equity the previous one ended with.

Windows are independent until they are stitched: `train_window` is the unit a fleet
fans out, `stitch` the owner's last step.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np

from backend_services.services.backtest.engine.downsample import extremes_preserving_indices
from backend_services.services.backtest.engine.evaluate import shared_series
from backend_services.services.backtest.engine.metrics import compute_statistics
from backend_services.services.backtest.engine.run import (
    MAX_EQUITY_POINTS,
    BacktestRun,
    ProgressCallback,
    run_of,
    signals_of,
    simulate_backtest,
)
from backend_services.services.backtest.engine.simulation import Simulation, TradeLog, simulate
from backend_services.services.backtest.engine.sweep import (
    SHARED_SERIES_BYTES,
    SweepBatch,
    sweep_rows,
)
from backend_services.services.backtest.engine.trade_search import Signals
from shared.contracts.backtests import ResolvedBacktest
from shared.contracts.results import EquityCurve
from shared.contracts.sweeps import Sweep, SweepRow
from shared.contracts.validation import MAX_WINDOWS, Validation, WalkForward, WalkForwardWindow
from shared.market_data.bars import Bars, IntArray, MarketDataError, concatenate
from shared.timeframes import TIMEFRAME_SECONDS, utc_datetime

__all__ = [
    "WindowSpan",
    "plan_windows",
    "signals_in_test_window",
    "stitch",
    "train_window",
    "walk_forward",
]


@dataclass(frozen=True, slots=True)
class WindowSpan:
    """Bar positions: train bars [train_start, test_start), test bars [test_start, test_stop)."""

    train_start: int
    test_start: int
    test_stop: int

    @property
    def train(self) -> slice:
        return slice(self.train_start, self.test_start)

    @property
    def test(self) -> slice:
        return slice(self.test_start, self.test_stop)


def plan_windows(
    bars: Bars, validation: Validation, backtest: ResolvedBacktest
) -> list[WindowSpan]:
    """Every window whose test window ends within the bars (for durations: by the end
    of the last bar's period); MarketDataError when there is none, more than
    MAX_WINDOWS, or one whose train or test window holds fewer than 2 bars."""
    if validation.in_bars:
        axis: IntArray = np.arange(len(bars), dtype=np.int64)
        end = len(bars)
    else:
        axis = bars.time
        end = int(bars.time[-1]) + TIMEFRAME_SECONDS[backtest.timeframe] if len(bars) else 0
    train, test = validation.units(validation.train), validation.units(validation.test)
    step, origin = validation.step_units, int(axis[0]) if len(axis) else 0
    starts = range(origin, end - train - test + 1, step)
    if len(starts) > MAX_WINDOWS:
        raise MarketDataError(
            f"the windows make {len(starts)} walk-forward windows of {len(bars)} "
            f"{backtest.timeframe} bars; at most {MAX_WINDOWS}: lengthen the step"
        )
    spans = []
    for start in starts:
        first = origin if validation.mode == "anchored" else start
        edges = np.searchsorted(axis, [first, start + train, start + train + test])
        span = WindowSpan(*(int(edge) for edge in edges))
        if span.test_start - span.train_start < 2 or span.test_stop - span.test_start < 2:
            raise MarketDataError(
                f"the walk-forward window from {utc_datetime(int(bars.time[span.train_start]))}"
                f" has {span.test_start - span.train_start} train and "
                f"{span.test_stop - span.test_start} test bars; each needs at least 2"
            )
        spans.append(span)
    if not spans:
        raise MarketDataError(
            f"{len(bars)} {backtest.timeframe} bars of {backtest.symbol} hold no walk-forward "
            f"window of {validation.train} train and {validation.test} test"
        )
    return spans


def train_window(
    bars: Bars,
    backtest: ResolvedBacktest,
    sweep: Sweep,
    span: WindowSpan,
    on_progress: ProgressCallback = lambda fraction: None,
) -> SweepBatch:
    """The best combination of the sweep over the window's train bars only (ties go to
    the first in grid order, as in a sweep's ranking): its row and its returns' moments."""
    count = len(sweep.combinations(backtest.parameters))
    shared = shared_series(SHARED_SERIES_BYTES)
    batch = sweep_rows(bars.take(span.train), backtest, sweep, range(count), shared, on_progress)
    rows = batch.rows
    best = min(
        range(len(rows)), key=lambda k: (rows[k].objective is None, -(rows[k].objective or 0.0))
    )
    return SweepBatch([rows[best]], batch.moments[best : best + 1])


def signals_in_test_window(
    bars: Bars, backtest: ResolvedBacktest, span: WindowSpan
) -> tuple[Bars, Signals]:
    """The window's test bars and the backtest's signals inside them, its rules warmed
    up on the train bars before them."""
    warmed = bars.take(slice(span.train_start, span.test_stop))
    offset = span.test_start - span.train_start
    fired = signals_of(warmed, backtest)
    inside = Signals(
        *(
            column[column >= offset] - offset
            for column in (fired.long_entry, fired.long_exit, fired.short_entry, fired.short_exit)
        )
    )
    return bars.take(span.test), inside


def stitch(
    bars: Bars,
    backtest: ResolvedBacktest,
    sweep: Sweep,
    validation: Validation,
    spans: list[WindowSpan],
    winners: list[SweepRow],
    strategy_id: str,
) -> tuple[BacktestRun, WalkForward]:
    """The out-of-sample run of each window's winner, stitched into one run (each test
    segment starting with the equity the one before ended with; after a segment that
    lost everything, the rest hold nothing), and the windows' table, whose objectives
    in and out of sample both come from runs at the initial capital, so that they
    compare."""
    capital = backtest.initial_capital
    segments: list[tuple[Bars, Simulation]] = []
    windows: list[WalkForwardWindow] = []
    in_sample = _ChainedCurve(backtest.initial_capital, MAX_EQUITY_POINTS // len(spans))
    for span, winner in zip(spans, winners, strict=True):
        chosen = backtest.model_copy(update={"parameters": backtest.parameters | winner.parameters})
        train = bars.take(span.train)
        in_sample.add(train, simulate_backtest(train, chosen), span.train_start)
        test, signals = signals_in_test_window(bars, chosen, span)
        alone = simulate(test, signals, backtest.initial_capital, chosen.orders, chosen.costs)
        statistics = compute_statistics(
            test, alone, backtest.initial_capital, against_the_asset=False
        )
        if capital == backtest.initial_capital:
            simulation = alone
        elif capital > 0:
            simulation = simulate(test, signals, capital, chosen.orders, chosen.costs)
        else:
            simulation = _ruined(len(test))
        windows.append(
            WalkForwardWindow(
                train_start=utc_datetime(int(bars.time[span.train_start])),
                train_end=utc_datetime(int(bars.time[span.test_start - 1])),
                test_start=utc_datetime(int(test.time[0])),
                test_end=utc_datetime(int(test.time[-1])),
                train_bars=span.test_start - span.train_start,
                test_bars=len(test),
                parameters=winner.parameters,
                in_sample=winner.objective,
                out_of_sample=getattr(statistics, sweep.objective),
                out_of_sample_return=statistics.total_return,
                out_of_sample_trades=statistics.total_trades,
            )
        )
        segments.append((test, simulation))
        capital = float(simulation.equity[-1])
    run = run_of(
        concatenate([test for test, _ in segments]), _joined(segments), backtest, strategy_id
    )
    walk_forward = WalkForward(
        mode=validation.mode,
        objective=sweep.objective,
        windows=windows,
        efficiency=_efficiency(windows) if _comparable(sweep, validation) else None,
        in_sample_curve=in_sample.curve(),
    )
    return run, walk_forward


def walk_forward(
    bars: Bars,
    backtest: ResolvedBacktest,
    sweep: Sweep,
    validation: Validation,
    strategy_id: str,
    on_progress: ProgressCallback = lambda fraction: None,
) -> tuple[BacktestRun, WalkForward]:
    """Every window trained in turn, then stitched; `on_progress` as the windows train."""
    spans = plan_windows(bars, validation, backtest)
    winners = [
        train_window(
            bars, backtest, sweep, span, partial(_within, on_progress, k, len(spans))
        ).rows[0]
        for k, span in enumerate(spans)
    ]
    return stitch(bars, backtest, sweep, validation, spans, winners, strategy_id)


def _within(on_progress: ProgressCallback, done: int, count: int, fraction: float) -> None:
    on_progress((done + fraction) / count)


def _joined(segments: list[tuple[Bars, Simulation]]) -> Simulation:
    """The segments' simulations as one over their bars in turn: trades' bars shifted."""
    offsets = np.cumsum([0] + [len(test) for test, _ in segments[:-1]])
    logs = [simulation.trades for _, simulation in segments]
    columns = ("entry_price", "exit_price", "size", "pnl", "return_fraction", "bars_held")
    trades = TradeLog(
        long=np.concatenate([log.long for log in logs]),
        entry_bar=np.concatenate(
            [log.entry_bar + at for log, at in zip(logs, offsets, strict=True)]
        ),
        exit_bar=np.concatenate([log.exit_bar + at for log, at in zip(logs, offsets, strict=True)]),
        exit_reason=[reason for log in logs for reason in log.exit_reason],
        **{name: np.concatenate([getattr(log, name) for log in logs]) for name in columns},
    )
    return Simulation(
        equity=np.concatenate([simulation.equity for _, simulation in segments]),
        in_position=np.concatenate([simulation.in_position for _, simulation in segments]),
        trades=trades,
    )


# Objectives that grow with the time they are measured over: a train window's and a
# test window's compare only when both are as long.
_GROWING_WITH_TIME = frozenset({"total_return", "final_equity"})


def _comparable(sweep: Sweep, validation: Validation) -> bool:
    """Whether the objective in and out of sample compare: a rate or a ratio, or an
    amount over train and test windows of one length."""
    same_length = validation.units(validation.train) == validation.units(validation.test)
    return sweep.objective not in _GROWING_WITH_TIME or same_length


def _ruined(bars: int) -> Simulation:
    """A segment after the account lost everything: no equity, no position, no trade."""
    return Simulation(
        equity=np.zeros(bars),
        in_position=np.zeros(bars, dtype=bool),
        trades=TradeLog.of([]),
    )


def _efficiency(windows: list[WalkForwardWindow]) -> float | None:
    """Mean out-of-sample objective over mean in-sample one, over the windows where
    both are defined; None unless the in-sample mean is positive."""
    pairs = [
        (window.in_sample, window.out_of_sample)
        for window in windows
        if window.in_sample is not None and window.out_of_sample is not None
    ]
    if not pairs:
        return None
    in_sample = float(np.mean([pair[0] for pair in pairs]))
    return float(np.mean([pair[1] for pair in pairs])) / in_sample if in_sample > 0 else None


class _ChainedCurve:
    """Each window's winner over the train bars its window added to those before (the
    first window's: all), chained by their returns: each part starts where the last
    one ended, kept at `points` bars that preserve its extremes. The curve runs forward
    in time however much the train windows overlap."""

    def __init__(self, start: float, points: int) -> None:
        self._start = self._level = start
        self._points = max(points, 4)
        self._time: list[int] = []
        self._equity: list[float] = []
        self._until = 0  # the position after the last bar covered

    def add(self, bars: Bars, simulation: Simulation, position: int) -> None:
        """A simulation that started with `start` over `bars`, the first at `position`."""
        first = max(self._until - position, 0)
        base = float(simulation.equity[first - 1]) if first else self._start
        self._until = position + len(bars)
        if first >= len(bars) or base <= 0:
            return
        scaled = simulation.equity[first:] * (self._level / base)
        chosen = extremes_preserving_indices(scaled, self._points)
        self._time.extend(bars.time[first:][chosen].tolist())
        self._equity.extend(scaled[chosen].tolist())
        self._level = float(scaled[-1])

    def curve(self) -> EquityCurve:
        return EquityCurve.model_validate({"time": self._time, "equity": self._equity})
