"""Walk-forward validation: windows, no look-ahead, one window as a train and a test run."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from backend_services.services.backtest.engine.metrics import compute_statistics
from backend_services.services.backtest.engine.run import run_of, signals_of
from backend_services.services.backtest.engine.simulation import simulate
from backend_services.services.backtest.engine.sweep import optimize
from backend_services.services.backtest.engine.trade_search import Signals
from backend_services.services.backtest.engine.walk_forward import (
    WindowSpan,
    plan_windows,
    walk_forward,
)
from shared.contracts.backtests import ResolvedBacktest
from shared.contracts.common import InconsistentRequest
from shared.contracts.strategies import Costs, Orders, Rules
from shared.contracts.sweeps import Sweep
from shared.contracts.validation import Validation, check_windows
from shared.market_data.bars import Bars, MarketDataError

DAY = 86_400
START = 1_000_000_000 // DAY * DAY
CROSS = Rules(
    long_entry="crossover(sma(close, fast), sma(close, slow))",
    long_exit="crossunder(sma(close, fast), sma(close, slow))",
)
GRID = Sweep(grid={"fast": [3, 5, 8], "slow": [12, 20, 30]}, objective="total_return")


def _bars(close: np.ndarray) -> Bars:
    open_ = np.concatenate([[close[0]], close[:-1]])
    return Bars(
        time=START + DAY * np.arange(close.shape[0], dtype=np.int64),
        open=open_,
        high=np.maximum(open_, close) * 1.005,
        low=np.minimum(open_, close) * 0.995,
        close=close,
        volume=np.ones(close.shape[0]),
    )


def _walk(count: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.asarray(100 * np.exp(np.cumsum(rng.normal(0, 0.01, count))), dtype=np.float64)


def _backtest(rules: Rules = CROSS, **parameters: float) -> ResolvedBacktest:
    return ResolvedBacktest(
        symbol="TEST",
        timeframe="1d",
        start_date=datetime(2000, 1, 1, tzinfo=UTC),
        end_date=datetime(2030, 1, 1, tzinfo=UTC),
        initial_capital=10_000,
        parameters=parameters or {"fast": 5, "slow": 20},
        rules=rules,
        orders=Orders(),
        costs=Costs(commission_pct=0.001),
    )


def test_rolling_and_anchored_windows_by_bars_and_by_durations() -> None:
    bars = _bars(_walk(100, 1))
    rolling = plan_windows(bars, Validation(train=40, test=20), _backtest())
    assert rolling == [WindowSpan(0, 40, 60), WindowSpan(20, 60, 80), WindowSpan(40, 80, 100)]
    anchored = plan_windows(bars, Validation(mode="anchored", train=40, test=25), _backtest())
    assert anchored == [WindowSpan(0, 40, 65), WindowSpan(0, 65, 90)]
    stepped = plan_windows(bars, Validation(train=30, test=10, step=30), _backtest())
    assert stepped == [WindowSpan(0, 30, 40), WindowSpan(30, 60, 70), WindowSpan(60, 90, 100)]
    by_days = plan_windows(bars, Validation(train="40d", test="20d"), _backtest())
    assert by_days == rolling  # one bar a day: the last window ends with the last bar's day
    with pytest.raises(MarketDataError, match="hold no walk-forward window"):
        plan_windows(bars, Validation(train=90, test=20), _backtest())


def test_windows_are_all_bars_or_all_durations_and_never_test_a_bar_twice() -> None:
    with pytest.raises(ValidationError, match="all be bar counts or all durations"):
        Validation(train=40, test="20d")
    with pytest.raises(ValidationError, match="step may not be shorter than test"):
        Validation(train=40, test=20, step=10)
    with pytest.raises(ValidationError):
        Validation(train="40 days", test="20d")


def test_a_train_window_shorter_than_the_longest_lookback_of_the_sweep_is_refused() -> None:
    check_windows(Validation(train=31, test=5), GRID, _backtest())
    with pytest.raises(InconsistentRequest, match="crossover needs 31 1d bars") as refused:
        check_windows(Validation(train=30, test=5), GRID, _backtest())
    assert refused.value.field == "validation.train"
    assert "slow=30" in str(refused.value)
    with pytest.raises(InconsistentRequest, match="a train window of 4w holds at most 28"):
        check_windows(Validation(train="4w", test="1w"), GRID, _backtest())
    with pytest.raises(InconsistentRequest) as short_test:
        check_windows(Validation(train="60d", test="1d"), GRID, _backtest())
    assert short_test.value.field == "validation.test"


def test_one_window_is_a_train_optimization_and_a_warmed_up_test_run() -> None:
    bars = _bars(_walk(600, 7))
    backtest = _backtest()

    run, outcome = walk_forward(bars, backtest, GRID, Validation(train=400, test=200), "s")

    train = bars.take(slice(0, 400))
    _, optimization = optimize(train, backtest, GRID, "s")
    [window] = outcome.windows
    best = optimization.ranked.rows(0, 1)[0]
    assert window.parameters == best.parameters
    assert window.in_sample == best.objective
    assert (window.train_bars, window.test_bars) == (400, 200)
    chosen = backtest.model_copy(update={"parameters": optimization.best_parameters})
    # The test run by hand: the rules over train and test bars, signals kept from the
    # first test bar on, simulated over the test bars.
    fired = signals_of(bars.take(slice(0, 600)), chosen)
    test = bars.take(slice(400, 600))
    kept = Signals(
        *(
            signals[signals >= 400] - 400
            for signals in (fired.long_entry, fired.long_exit, fired.short_entry, fired.short_exit)
        )
    )
    simulation = simulate(test, kept, 10_000, chosen.orders, chosen.costs)
    by_hand = run_of(test, simulation, chosen, "s").result
    assert run.result == by_hand
    assert window.out_of_sample == by_hand.total_return
    assert run.result.start == window.test_start
    assert all(trade.entry_time >= window.test_start for trade in run.result.trades)
    statistics = compute_statistics(test, simulation, 10_000, against_the_asset=False)
    assert window.out_of_sample_trades == statistics.total_trades


def test_test_segments_continue_from_the_equity_the_previous_one_ended_with() -> None:
    bars = _bars(_walk(700, 3))

    run, outcome = walk_forward(bars, _backtest(), GRID, Validation(train=300, test=100), "s")

    assert len(outcome.windows) == 4
    assert run.result.bars == 400
    growth = np.prod([1 + window.out_of_sample_return for window in outcome.windows])
    assert run.result.final_equity == pytest.approx(10_000 * growth, rel=1e-9)
    assert run.result.total_trades == sum(w.out_of_sample_trades for w in outcome.windows)
    # A total return over 300 train bars does not compare with one over 100 test bars.
    assert outcome.efficiency is None
    curve = outcome.in_sample_curve
    assert curve.time == sorted(set(curve.time))  # forward in time, overlap or not
    assert (curve.time[0], curve.time[-1]) == (
        outcome.windows[0].train_start,
        outcome.windows[-1].train_end,
    )
    first_end = curve.time.index(outcome.windows[0].train_end)
    first_return = outcome.windows[0].in_sample
    assert first_return is not None
    assert curve.equity[first_end] == pytest.approx(10_000 * (1 + first_return))


def test_efficiency_is_the_mean_out_of_sample_objective_over_the_mean_in_sample_one() -> None:
    bars = _bars(_walk(700, 3))
    sweep = GRID.model_copy(update={"objective": "sharpe_ratio"})

    _, outcome = walk_forward(bars, _backtest(), sweep, Validation(train=300, test=100), "s")

    pairs = [(w.in_sample, w.out_of_sample) for w in outcome.windows]
    in_sample = np.mean([pair[0] for pair in pairs if pair[0] is not None])
    out_of_sample = np.mean([pair[1] for pair in pairs if pair[1] is not None])
    assert in_sample > 0
    assert outcome.efficiency == pytest.approx(out_of_sample / in_sample)


@pytest.mark.parametrize("objective", ["final_equity", "expectancy", "cagr", "total_return"])
def test_a_window_out_of_sample_compares_with_in_sample_whatever_came_before(
    objective: str,
) -> None:
    """The same growth every bar: every window earns in its test bars what it earned in
    its train bars, whatever the windows before it earned, so the efficiency is 1."""
    bars = _bars(100 * np.exp(np.linspace(0, 1.5, 600)))
    always_long = _backtest(Rules(long_entry="close > 0", long_exit=None), p=1)
    sweep = Sweep(grid={"p": [1, 2]}, objective=objective)

    _, outcome = walk_forward(bars, always_long, sweep, Validation(train=100, test=100), "s")

    assert len(outcome.windows) == 5
    for window in outcome.windows:
        assert window.out_of_sample == pytest.approx(window.in_sample, rel=1e-6)
    assert outcome.efficiency == pytest.approx(1.0, rel=1e-6)


def test_after_a_test_segment_loses_everything_the_rest_hold_nothing() -> None:
    """A short through a price that quadruples in the first test window."""
    close = np.full(100, 400.0)
    close[:40] = 100 + np.sin(np.arange(40))
    close[40:60] = np.linspace(100, 400, 20)
    close[60:] = 400 + np.sin(np.arange(40))
    short = Rules(long_entry=None, long_exit=None, short_entry="close > sma(close, p) - 1000")
    sweep = Sweep(grid={"p": [2, 3]}, objective="sharpe_ratio")

    run, outcome = walk_forward(
        _bars(close), _backtest(short, p=2), sweep, Validation(train=40, test=20), "s"
    )

    first, *later = outcome.windows
    assert first.out_of_sample_return == -1.0
    assert all(window.out_of_sample_trades > 0 for window in later)  # each alone: trades
    assert run.result.final_equity == 0.0
    assert run.result.total_trades == first.out_of_sample_trades  # then nothing to trade
    assert run.result.equity_curve.equity[-1] == 0.0


PLANT = Rules(
    long_entry="close > level and close < level * 1.5",
    long_exit="close < level or close > level * 1.5",
)
LEVELS = Sweep(grid={"level": [50, 90, 400]}, objective="final_equity")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    train=st.integers(60, 150),
    test=st.integers(20, 60),
    anchored=st.booleans(),
    planted_window=st.integers(0, 3),
)
def test_a_window_never_sees_its_test_bars_while_training(
    seed: int, train: int, test: int, anchored: bool, planted_window: int
) -> None:
    """From one window's test start on, the bars are replaced by a rally from 450 to 590
    that only the level of 400 trades (the lower levels' bands lie below it), and wins
    big on: every window trained before it chooses exactly as without it, in-sample
    objective included, though a look at the test bars would choose 400."""
    close = _walk(train + 4 * test, seed)  # about 100: the level of 400 never trades
    backtest = _backtest(PLANT, level=50)
    validation = Validation(mode="anchored" if anchored else "rolling", train=train, test=test)
    spans = plan_windows(_bars(close), validation, backtest)
    planted_span = spans[min(planted_window, len(spans) - 1)]
    at = planted_span.test_start
    planted = close.copy()
    planted[at:] = 450 * np.exp(np.linspace(0, 0.27, close.shape[0] - at))

    _, honest = walk_forward(_bars(close), backtest, LEVELS, validation, "s")
    _, with_plant = walk_forward(_bars(planted), backtest, LEVELS, validation, "s")

    trained_before = [k for k, span in enumerate(spans) if span.test_start <= at]
    assert trained_before
    for k in trained_before:
        assert with_plant.windows[k].parameters == honest.windows[k].parameters
        assert with_plant.windows[k].in_sample == honest.windows[k].in_sample
    _, peeking = optimize(_bars(planted).take(planted_span.test), backtest, LEVELS, "s")
    assert peeking.best_parameters["level"] == 400  # what a look at the test bars chooses
