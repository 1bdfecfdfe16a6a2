"""Parameter sweeps through the API: one optimization, ranked, with the best run in full."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from helpers import backtest_params, wait_for_backtest

pytestmark = pytest.mark.integration

FAST = [5, 10, 20]
SLOW = [10, 20, 40]


def test_an_optimization_ranks_every_combination_and_runs_the_best_in_full(
    api: httpx.Client, create_strategy: Callable[..., dict[str, Any]]
) -> None:
    strategy = create_strategy()
    sweep = {
        "grid": {"fast": FAST, "slow": SLOW},
        "constraint": "fast < slow",
        "objective": "total_return",
    }
    params = backtest_params(sweep=sweep)
    started = api.post(f"/api/strategy/{strategy['id']}/optimize", json=params)
    assert started.status_code == 202, started.text
    seen: list[dict[str, Any]] = []
    optimization = wait_for_backtest(api, started.json()["id"], seen=seen)

    assert optimization["status"] == "completed", optimization["error"]
    assert [state["progress"] for state in seen] == sorted(s["progress"] for s in seen)
    report = optimization["optimization"]
    ranked = report["ranked"]
    assert report["combinations"] == len(ranked) == 6  # 9 in the grid, 3 with fast >= slow
    assert report["excluded"] == 3
    assert all(row["parameters"]["fast"] < row["parameters"]["slow"] for row in ranked)
    returns = [row["objective"] for row in ranked]
    assert returns == sorted(returns, reverse=True)
    assert [row["total_return"] for row in ranked] == returns

    best = optimization["result"]
    assert report["best_parameters"] == ranked[0]["parameters"]
    assert best["total_return"] == pytest.approx(ranked[0]["total_return"])
    assert best["total_trades"] == ranked[0]["total_trades"] == len(best["trades"])

    heatmap = report["heatmap"]
    assert (heatmap["x"], heatmap["y"]) == ("fast", "slow")
    assert (heatmap["x_values"], heatmap["y_values"]) == (FAST, SLOW)
    for row in ranked:
        i = SLOW.index(row["parameters"]["slow"])
        j = FAST.index(row["parameters"]["fast"])
        assert heatmap["values"][i][j] == pytest.approx(row["objective"])
    assert heatmap["values"][0][1:] == [None, None]  # slow 10: fast 10 and 20 left out

    # Each row is exactly what a backtest with its parameters reports.
    second = ranked[1]
    single = api.post(
        f"/api/strategy/{strategy['id']}/backtest",
        json=backtest_params(
            initial_capital=params["initial_capital"], parameters=second["parameters"]
        ),
    )
    result = wait_for_backtest(api, single.json()["id"])["result"]
    assert result["total_return"] == pytest.approx(second["total_return"])
    assert result["sharpe_ratio"] == pytest.approx(second["sharpe_ratio"])

    listed = api.get(f"/api/strategy/{strategy['id']}/backtests").json()
    kinds = {entry["id"]: entry["sweep"] is not None for entry in listed}
    assert kinds == {optimization["id"]: True, single.json()["id"]: False}

    repeated = api.post(f"/api/strategy/{strategy['id']}/optimize", json=params).json()
    assert repeated["status"] == "completed"
    assert repeated["result"]["cached"] is True
    assert repeated["optimization"] == report


@pytest.mark.parametrize(
    ("sweep", "message"),
    [
        ({"grid": {"fats": [5]}}, "no parameter named fats"),
        ({"grid": {"fast": [2.5]}}, "must be a whole number"),
        ({"grid": {"fast": [50], "slow": [10]}, "constraint": "fast < slow"}, "no combination"),
        ({"grid": {"fast": [5]}, "constraint": "fast < sma(close, 3)"}, "only parameters"),
        ({"grid": {"fast": list(range(1, 102)), "slow": list(range(1, 101))}}, "at most 10000"),
        ({"grid": {"fast": [5]}, "objective": "luck"}, "Input should be"),
    ],
)
def test_a_sweep_that_cannot_run_is_refused_before_anything_is_stored(
    api: httpx.Client,
    create_strategy: Callable[..., dict[str, Any]],
    sweep: dict[str, Any],
    message: str,
) -> None:
    strategy = create_strategy()

    response = api.post(
        f"/api/strategy/{strategy['id']}/optimize", json=backtest_params(sweep=sweep)
    )

    assert response.status_code == 422
    assert message in response.text
    assert api.get(f"/api/strategy/{strategy['id']}/backtests").json() == []
