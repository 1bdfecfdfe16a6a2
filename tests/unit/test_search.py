"""Random and TPE searches: the draws, the trial budget, and a search of a strategy ranked
as its single backtests report; a grid fanned out in stored parts."""

from __future__ import annotations

import itertools
import re
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from helpers import minute_walk
from pydantic import ValidationError
from pymongo.database import Database

from backend_services.services.backtest.backtest_engine import BacktestEngine
from backend_services.services.backtest.engine.heatmap import MAX_AXIS_VALUES
from backend_services.services.backtest.execution.search import optuna_search
from backend_services.services.backtest.execution.sweep_parts import PARTS_COLLECTION, SweepParts
from shared.contracts.backtests import ResolvedBacktest
from shared.contracts.common import InconsistentRequest
from shared.contracts.strategies import Costs, Orders, Rules
from shared.contracts.sweeps import Sweep, check_sweep
from shared.market_data.bars import Bars
from shared.mongo import Document

Combination = dict[str, float]
WHOLE = {"low": 1, "high": 60, "integer": True}


def _walk() -> Bars:
    return minute_walk(3_000, seed=11)


def _backtest(**parameters: float) -> ResolvedBacktest:
    """Long from a crossover of averages `fast` and `slow` bars long until the close is
    `stop` below the slow one, on minute bars."""
    return ResolvedBacktest.model_validate(
        {
            "symbol": "WALK",
            "timeframe": "1m",
            "start_date": datetime(2020, 1, 1, tzinfo=UTC),
            "end_date": datetime(2021, 1, 1, tzinfo=UTC),
            "initial_capital": 1_000,
            "parameters": {"fast": 10, "slow": 30, "stop": 0.01} | parameters,
            "rules": Rules(long_exit="close < sma(close, slow) * (1 - stop)"),
            "orders": Orders(stop_loss_pct=0.01),
            "costs": Costs(),
        }
    )


def _search(sweep: Sweep, objective: Any, keeps: Any = lambda c: True) -> list[Combination]:
    """The combinations the search ran, in order."""
    ran: list[Combination] = []

    def evaluate(combination: Combination) -> float | None:
        ran.append(combination)
        return objective(combination)  # type: ignore[no-any-return]

    optuna_search(sweep, keeps, evaluate, lambda fraction: None)
    return ran


def _bowl(combination: Combination) -> float:
    """A smooth objective over whole numbers, highest at fast 37, slow 21."""
    return -((combination["fast"] - 37) ** 2) - (combination["slow"] - 21) ** 2


def test_a_tpe_search_finds_the_grids_best_of_a_smooth_objective_in_a_fraction_of_its_trials() -> (
    None
):
    grid = Sweep(grid={"fast": list(range(1, 61)), "slow": list(range(1, 61))})
    grid_best = max(grid.combinations({"fast": 0, "slow": 0}), key=_bowl)
    tpe = Sweep(method="tpe", ranges={"fast": WHOLE, "slow": WHOLE}, trials=100)
    drawn = Sweep(method="random", ranges={"fast": WHOLE, "slow": WHOLE}, trials=100)

    searched = _search(tpe, _bowl)
    at_random = _search(drawn, _bowl)

    assert grid.grid_size == 3_600
    assert len(searched) == 100
    assert max(searched, key=_bowl) == grid_best == {"fast": 37, "slow": 21}
    assert max(map(_bowl, at_random)) < 0  # a hundred draws at random do not find it


def test_a_seed_draws_the_same_trials_every_time_and_another_seed_others() -> None:
    def ranges(seed: int) -> Sweep:
        space = {"fast": WHOLE, "stop": {"low": 0.01, "high": 0.2}}
        return Sweep(method="random", ranges=space, trials=20, seed=seed)

    first, again, other = (_search(ranges(seed), lambda c: 0.0) for seed in (4, 4, 5))

    assert first == again != other
    assert all(isinstance(c["fast"], int) and 0.01 <= c["stop"] <= 0.2 for c in first)


def test_left_out_and_repeated_draws_are_not_trials() -> None:
    """Ten whole-number pairs with fast < slow: a budget of ten runs each once; a budget
    of twenty ends after its draws, having run the ten."""
    space = {
        "fast": {"low": 1, "high": 5, "integer": True},
        "slow": {"low": 1, "high": 5, "integer": True},
    }

    def fast_below_slow(combination: Combination) -> bool:
        return combination["fast"] < combination["slow"]

    for trials in (10, 20):
        sweep = Sweep(method="random", ranges=space, trials=trials, seed=1)
        ran = _search(sweep, lambda c: float(c["slow"] - c["fast"]), fast_below_slow)
        pairs = [(c["fast"], c["slow"]) for c in ran]
        assert sorted(pairs) == [
            (f, s) for f, s in itertools.product(range(1, 6), repeat=2) if f < s
        ]


def test_a_stepped_range_draws_its_steps_and_a_grid_list_its_values() -> None:
    space = {"stop": {"low": 0.05, "high": 0.31, "step": 0.05}}
    sweep = Sweep(method="random", grid={"fast": [3, 8]}, ranges=space, trials=12)

    ran = _search(sweep, lambda c: 0.0)

    assert {c["fast"] for c in ran} == {3, 8}
    assert {c["stop"] for c in ran} <= {0.05, 0.1, 0.15, 0.2, 0.25, 0.3}


def test_a_raising_progress_callback_abandons_the_search() -> None:
    sweep = Sweep(method="tpe", ranges={"fast": WHOLE}, trials=50)
    seen: list[float] = []

    def cancel_at_five(fraction: float) -> None:
        seen.append(fraction)
        if len(seen) == 5:
            raise RuntimeError("cancelled")

    with pytest.raises(RuntimeError, match="cancelled"):
        optuna_search(sweep, lambda c: True, lambda c: 1.0, cancel_at_five)
    assert seen == [0.02, 0.04, 0.06, 0.08, 0.1]


def test_a_search_of_a_strategy_ranks_its_trials_as_single_backtests_report_them() -> None:
    bars, backtest = _walk(), _backtest()
    ranges = {
        "fast": {"low": 2, "high": 20, "integer": True},
        "slow": {"low": 10, "high": 60, "integer": True},
    }
    sweep = Sweep(method="tpe", ranges=ranges, constraint="fast < slow", trials=25, seed=3)
    progress: list[float] = []

    best, optimization = BacktestEngine(progress.append).search(
        bars, backtest, sweep, "s", optuna_search
    )

    assert (optimization.method, optimization.combinations) == ("tpe", 25)
    assert optimization.trial_objectives is not None
    assert len(optimization.trial_objectives) == 25
    rows = optimization.ranked.rows()
    assert sorted(r.objective or 0 for r in rows) == sorted(
        o or 0 for o in optimization.trial_objectives
    )
    for row in rows[:5]:
        single = BacktestEngine().run(bars, _backtest(**row.parameters), "s").result
        assert row.parameters["fast"] < row.parameters["slow"]
        assert (row.objective, row.total_trades) == (single.sharpe_ratio, single.total_trades)
    assert best.result.sharpe_ratio == rows[0].objective
    assert optimization.best_parameters == backtest.parameters | rows[0].parameters
    assert optimization.heatmap.x_values == sorted({r.parameters["fast"] for r in rows})
    dsr, pbo = optimization.deflated_sharpe, optimization.pbo
    assert dsr is not None
    assert pbo is not None
    assert (dsr.trials, pbo.trials, dsr.observations) == (25, 25, len(bars.time) - 1)
    assert 0 <= dsr.value <= 1
    assert 0 <= pbo.value <= 1
    assert progress == sorted(progress)
    assert progress[-1] == pytest.approx(0.9)


def test_a_search_over_real_numbers_bins_its_heatmap_axis() -> None:
    """Eighty trials of a stop over real numbers take eighty values: the heatmap keeps
    fifty bins of them, each the best of the trials that fell into it."""
    ranges = {"stop": {"low": 0.0002, "high": 0.005}}
    sweep = Sweep(method="random", ranges=ranges, trials=80, seed=2)

    _, optimization = BacktestEngine().search(_walk(), _backtest(), sweep, "s", optuna_search)

    rows = optimization.ranked.rows()
    stops = sorted(row.parameters["stop"] for row in rows)
    heatmap = optimization.heatmap
    assert (heatmap.x, heatmap.y, len(heatmap.x_values)) == ("stop", None, MAX_AXIS_VALUES)
    width = (stops[-1] - stops[0]) / MAX_AXIS_VALUES
    assert heatmap.x_values[0] == pytest.approx(stops[0] + width / 2, rel=1e-5)
    assert max(v for v in heatmap.values[0] if v is not None) == rows[0].objective
    best_by_bin: dict[int, float] = {}
    for row in rows:
        j = min(int((row.parameters["stop"] - stops[0]) / width), MAX_AXIS_VALUES - 1)
        if row.objective is not None:
            best_by_bin[j] = max(best_by_bin.get(j, row.objective), row.objective)
    assert heatmap.values[0] == [best_by_bin.get(j) for j in range(MAX_AXIS_VALUES)]


def test_a_search_the_constraint_leaves_nothing_to_is_refused_in_words() -> None:
    sweep = Sweep(
        method="random",
        ranges={"fast": {"low": 40, "high": 50}},
        constraint="fast < slow",
        trials=5,
    )
    with pytest.raises(InconsistentRequest, match="no combination that satisfies it"):
        BacktestEngine().search(_walk(), _backtest(), sweep, "s", optuna_search)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"grid": {"fast": [5]}, "ranges": {"slow": WHOLE}}, "ranges and trials are for"),
        ({"method": "tpe", "ranges": {"fast": WHOLE}}, "needs its number of trials"),
        ({"method": "tpe", "trials": 5}, "needs ranges or grid values"),
        (
            {"method": "random", "trials": 5, "grid": {"fast": [5]}, "ranges": {"fast": WHOLE}},
            "both",
        ),
        ({"method": "random", "trials": 5, "ranges": {"fast": {"low": 5, "high": 1}}}, "below low"),
        (
            {
                "method": "random",
                "trials": 5,
                "ranges": {"fast": {"low": 1.5, "high": 9, "integer": True}},
            },
            "whole-number",
        ),
        (
            {"method": "random", "trials": 10_001, "ranges": {"fast": WHOLE}},
            "less than or equal to 10000",
        ),
        ({"grid": {}}, "at least one parameter"),
    ],
)
def test_a_search_says_what_it_lacks(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        Sweep.model_validate(fields)


def test_a_range_the_rules_cannot_use_is_refused_in_words() -> None:
    fractional = Sweep(method="random", ranges={"fast": {"low": 2, "high": 9}}, trials=5)
    with pytest.raises(InconsistentRequest, match=r"sweep\.ranges\.fast: .*whole number"):
        check_sweep(fractional, _backtest())
    unknown = Sweep(method="random", ranges={"speed": WHOLE}, trials=5)
    with pytest.raises(InconsistentRequest, match="no parameter named speed"):
        check_sweep(unknown, _backtest())
    whole = Sweep(method="tpe", ranges={"fast": WHOLE}, trials=7)
    assert check_sweep(whole, _backtest()) == 7


def test_a_grid_fanned_out_in_stored_parts_has_the_single_process_dsr_and_pbo(
    db: Database[Document],
) -> None:
    bars, backtest = _walk(), _backtest()
    sweep = Sweep(grid={"fast": [5, 10, 15, 20, 25, 30], "slow": [20, 40, 60, 80]})
    engine = BacktestEngine()
    _, whole = engine.optimize(bars, backtest, sweep, "s1")
    parts = SweepParts(db[PARTS_COLLECTION], uuid.uuid4().hex, "run-1")
    count = parts.create(len(sweep.combinations(backtest.parameters)), 7)

    for _ in range(count):
        part = parts.claim("worker-a", stale_before=datetime(2000, 1, 1, tzinfo=UTC))
        assert part is not None
        parts.store(part, "worker-a", engine.sweep_part(bars, backtest, sweep, part.indices))
    batch, workers = parts.rows()
    _, merged = engine.merge_sweep(bars, backtest, sweep, batch, "s1")
    parts.remove()

    assert (count, workers) == (4, ["worker-a"])
    assert whole.deflated_sharpe is not None
    assert whole.pbo is not None
    assert merged.deflated_sharpe == whole.deflated_sharpe
    assert merged.pbo == whole.pbo
    assert merged.model_dump() == whole.model_dump()
