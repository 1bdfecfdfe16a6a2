"""Parameter sweeps: the grid, the constraint, shared indicators, ranking and heatmap."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from backend_services.services.backtest.backtest_engine import BacktestEngine, SweepBatch
from backend_services.services.backtest.engine import rule_functions
from backend_services.services.backtest.engine.evaluate import RuleEvaluator, shared_series
from backend_services.services.backtest.engine.sweep import optimize
from shared.contracts.backtests import ResolvedBacktest
from shared.contracts.strategies import Costs, Orders, Rules
from shared.contracts.sweeps import (
    MAX_COMBINATIONS,
    Optimization,
    RankedTable,
    Sweep,
    SweepRow,
    check_sweep,
)
from shared.market_data.bars import Bars
from shared.rules.functions import Function
from shared.rules.parser import RuleError, parse_constraint, parse_rule

DAY = 86_400


def _walk(count: int = 600) -> Bars:
    rng = np.random.default_rng(5)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, count)))
    open_ = np.concatenate([[close[0]], close[:-1]])
    return Bars(
        time=1_000_000_000 // DAY * DAY + DAY * np.arange(count, dtype=np.int64),
        open=open_,
        high=np.maximum(open_, close) * 1.01,
        low=np.minimum(open_, close) * 0.99,
        close=close,
        volume=np.ones(count),
    )


def _backtest(**parameters: float) -> ResolvedBacktest:
    return ResolvedBacktest(
        symbol="TEST",
        timeframe="1d",
        start_date=datetime(2000, 1, 1, tzinfo=UTC),
        end_date=datetime(2030, 1, 1, tzinfo=UTC),
        initial_capital=10_000,
        parameters={"fast": 10, "slow": 30, "stop": 0.1} | parameters,
        rules=Rules(),
        orders=Orders(stop_loss_pct=0.05),
        costs=Costs(commission_pct=0.001),
    )


def test_every_row_is_what_a_single_backtest_with_its_parameters_reports() -> None:
    bars = _walk()
    sweep = Sweep(grid={"fast": [5, 10, 20], "slow": [15, 30]}, constraint="fast < slow")

    best, optimization = optimize(bars, _backtest(), sweep, "s")

    assert optimization.combinations == 5
    assert optimization.excluded == 1
    for row in optimization.ranked.rows():
        single = BacktestEngine().run(bars, _backtest(**row.parameters), "s").result
        assert row.objective == single.sharpe_ratio
        assert (row.total_return, row.max_drawdown) == (single.total_return, single.max_drawdown)
        assert row.total_trades == single.total_trades
    best_alone = BacktestEngine().run(
        bars, _backtest(**optimization.ranked.rows(0, 1)[0].parameters), "s"
    )
    assert best.result == best_alone.result
    assert (
        optimization.best_parameters == {"stop": 0.1} | optimization.ranked.rows(0, 1)[0].parameters
    )


def test_rows_rank_by_the_objective_with_undefined_values_last() -> None:
    bars = _walk()
    # A period longer than the bars never trades: no trades, no profit factor.
    sweep = Sweep(grid={"fast": [3, 5, 700], "slow": [30]}, objective="profit_factor")

    _, optimization = optimize(bars, _backtest(), sweep, "s")

    objectives = [row.objective for row in optimization.ranked.rows()]
    assert objectives[-1] is None
    assert objectives[:-1] == sorted(objectives[:-1], reverse=True)  # type: ignore[type-var]


def test_the_heatmap_keeps_the_best_over_further_parameters() -> None:
    bars = _walk()
    sweep = Sweep(grid={"fast": [5, 10], "slow": [20, 30], "stop": [0.05, 0.2]})

    _, optimization = optimize(bars, _backtest(), sweep, "s")

    heatmap = optimization.heatmap
    assert (heatmap.x, heatmap.y, heatmap.x_values, heatmap.y_values) == (
        "fast",
        "slow",
        [5, 10],
        [20, 30],
    )
    for i, slow in enumerate([20, 30]):
        for j, fast in enumerate([5, 10]):
            cell = [
                row.objective
                for row in optimization.ranked.rows()
                if row.parameters["fast"] == fast and row.parameters["slow"] == slow
            ]
            assert heatmap.values[i][j] == max(value for value in cell if value is not None)


def test_one_swept_parameter_gives_a_one_line_heatmap() -> None:
    _, optimization = optimize(_walk(), _backtest(), Sweep(grid={"fast": [5, 10, 15]}), "s")

    heatmap = optimization.heatmap
    assert heatmap.y is None
    assert heatmap.y_values == []
    assert len(heatmap.values) == 1
    assert len(heatmap.values[0]) == 3


def test_progress_rises_and_a_raising_callback_abandons_the_sweep() -> None:
    reported: list[float] = []
    sweep = Sweep(grid={"fast": [5, 10, 15, 20]})
    optimize(_walk(), _backtest(), sweep, "s", on_progress=reported.append)
    assert reported == sorted(reported)
    assert len(reported) == 4
    assert reported[-1] < 1

    def cancel(fraction: float) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        optimize(_walk(), _backtest(), sweep, "s", on_progress=cancel)


def test_evaluators_share_indicator_series_but_not_conditions() -> None:
    bars = _walk()
    shared = shared_series(64 << 20)
    rule = parse_rule("crossover(sma(close, fast), sma(close, slow))", ["fast", "slow"])
    for fast in (5, 10):
        for slow in (20, 30):
            RuleEvaluator(bars, {"fast": fast, "slow": slow}, shared).condition(rule)

    assert len(shared) == 4  # sma 5, 10, 20 and 30, each computed once
    assert shared.bytes_used == 4 * bars.close.nbytes


def test_a_sweep_grid_is_sorted_deduplicated_and_bounded() -> None:
    sweep = Sweep(grid={"fast": [10, 5, 10]})
    assert sweep.grid == {"fast": [5, 10]}
    with pytest.raises(ValidationError, match=f"at most {MAX_COMBINATIONS}"):
        Sweep(grid={"a": list(range(200)), "b": list(range(51))})


@pytest.mark.parametrize(
    ("constraint", "kept"),
    [
        ("fast < slow", [(5, 10), (5, 20), (10, 20)]),
        ("fast * 3 <= slow or fast == 10", [(5, 20), (10, 5), (10, 10), (10, 20)]),
        ("not (fast < slow) and slow - fast > -6", [(5, 5), (10, 10), (10, 5)]),
    ],
)
def test_a_constraint_leaves_combinations_out(constraint: str, kept: list[tuple[int, int]]) -> None:
    sweep = Sweep(grid={"fast": [5, 10], "slow": [5, 10, 20]}, constraint=constraint)

    combinations = sweep.combinations({"fast": 1, "slow": 2, "stop": 0.1})

    assert {(c["fast"], c["slow"]) for c in combinations} == set(kept)
    assert all(c["stop"] == 0.1 for c in combinations)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("fast < sma(close, 3)", "a constraint uses only parameters and numbers, not 'sma' at 1:8"),
        ("fast < close", "not 'close' at 1:8"),
        ("fats < slow", "not 'fats' at 1:1, did you mean 'fast'?"),
        ("fast + slow", "a rule must be a condition, this is a number at 1:1"),
    ],
)
def test_a_bad_constraint_says_where_and_why(text: str, message: str) -> None:
    with pytest.raises(RuleError) as raised:
        parse_constraint(text, ["fast", "slow"])
    assert message in str(raised.value)


@pytest.mark.parametrize(
    ("sweep", "message"),
    [
        (Sweep(grid={"fats": [5]}), "sweep.grid: the strategy has no parameter named fats"),
        (Sweep(grid={"slow": [0]}), "sweep.grid.slow: rules.long_entry: parameter 'slow' is a"),
        (Sweep(grid={"fast": [40]}, constraint="fast < slow"), "no combination"),
        (Sweep(grid={"fast": [5]}, constraint="fast < slo"), "did you mean 'slow'?"),
    ],
)
def test_a_sweep_the_strategy_cannot_run_is_refused(sweep: Sweep, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        check_sweep(sweep, _backtest())


def test_a_sweep_counts_its_combinations() -> None:
    sweep = Sweep(grid={"fast": [5, 10, 20], "slow": [10, 30]}, constraint="fast < slow")
    assert check_sweep(sweep, _backtest()) == 4


def test_whole_number_parameters_stay_whole_numbers_in_the_ranking() -> None:
    sweep = Sweep(grid={"fast": [5, 10], "stop": [0.1, 0.25]})

    _, optimization = optimize(_walk(), _backtest(), sweep, "s")

    dumped = optimization.model_dump(mode="json")
    swept = dumped["ranked"]["parameters"]
    assert [type(value) for value in swept["fast"]] == [int] * 4
    assert [type(value) for value in swept["stop"]] == [float] * 4
    assert dumped["heatmap"]["x_values"] == [5, 10]
    assert [type(value) for value in dumped["heatmap"]["x_values"]] == [int, int]
    assert type(dumped["best_parameters"]["fast"]) is int
    assert type(dumped["best_parameters"]["slow"]) is int  # not swept, kept as given


def test_the_ranking_is_columns_that_give_back_its_rows() -> None:
    sweep = Sweep(grid={"fast": [5, 10, 20], "slow": [30, 40]}, constraint="fast < slow")

    _, optimization = optimize(_walk(), _backtest(), sweep, "s")

    table = optimization.ranked
    rows = table.rows()
    assert len(table) == len(rows) == 6
    assert RankedTable.of_rows(rows) == table
    assert [row.objective for row in rows] == table.objective
    assert [row.parameters["fast"] for row in rows] == table.parameters["fast"]
    assert table.rows(2, 4) == rows[2:4]
    # An optimization stored as rows, before the ranking became columns, still reads.
    stored = optimization.model_dump(mode="json") | {
        "ranked": [row.model_dump(mode="json") for row in rows]
    }
    assert Optimization.model_validate(stored) == optimization


def test_the_ranking_columns_are_the_rows_fields() -> None:
    assert set(RankedTable.model_fields) == set(SweepRow.model_fields)


@pytest.mark.parametrize("bounds", [(0, 7, 19, 24), (0, 1, 24), (0, 24)])
def test_a_sweep_run_in_parts_and_merged_is_the_sweep_run_whole(
    bounds: tuple[int, ...],
) -> None:
    bars, backtest = _walk(), _backtest()
    sweep = Sweep(grid={"fast": [5, 10, 15, 20, 25, 30], "slow": [20, 40, 60, 80]})
    engine = BacktestEngine()

    whole_run, whole = engine.optimize(bars, backtest, sweep, "s1")
    parts = [
        engine.sweep_part(bars, backtest, sweep, range(start, stop))
        for start, stop in itertools.pairwise(bounds)
    ]
    run, merged = engine.merge_sweep(bars, backtest, sweep, SweepBatch.joined(parts), "s1")

    assert merged.model_dump() == whole.model_dump()  # the DSR and the PBO included
    assert whole.deflated_sharpe is not None
    assert whole.pbo is not None
    assert run.result.model_dump() == whole_run.result.model_dump()


def test_ta_lib_series_are_computed_once_per_call_and_arguments_across_a_sweep(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every output of one TA-Lib call serves its siblings (bbands_upper and
    bbands_lower), and a series serves every combination with the same arguments."""
    computed: list[tuple[str, tuple[float, ...]]] = []
    compute = rule_functions._talib_outputs

    def counted(function: Function, values: list[Any]) -> Any:
        computed.append((function.talib, tuple(v for v in values if np.ndim(v) == 0)))
        return compute(function, values)

    monkeypatch.setattr(rule_functions, "_talib_outputs", counted)
    rules = Rules(
        long_entry="adx(high, low, close, period) > level and close > bbands_upper(close, 20)",
        long_exit="close < bbands_lower(close, 20) or adx(period) < level",
    )
    backtest = _backtest().model_copy(
        update={"parameters": {"period": 14, "level": 25}, "rules": rules}
    )
    sweep = Sweep(grid={"level": [15, 20, 25, 30, 35], "period": [10, 14]})

    optimize(_walk(), backtest, sweep, "s")

    assert sorted(computed) == [
        ("ADX", (10.0,)),
        ("ADX", (14.0,)),
        ("BBANDS", (20.0, 2.0, 2.0, 0.0)),
    ]


def test_a_sweep_value_a_bounded_argument_cannot_take_is_refused_in_words() -> None:
    backtest = _backtest().model_copy(
        update={
            "parameters": {"factor": 0.7},
            "rules": Rules(long_entry="close > t3(close, 5, factor)", long_exit=None),
        }
    )

    with pytest.raises(ValueError, match=re.escape(
        "sweep.grid.factor: rules.long_entry: parameter 'factor' is vfactor: it must be 1 "
        "or less, not 1.5"
    )):  # fmt: skip
        check_sweep(Sweep(grid={"factor": [0.5, 1.5]}), backtest)
