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


def test_a_large_ranking_is_paged_and_the_backtest_carries_its_top(
    api: httpx.Client, create_strategy: Callable[..., dict[str, Any]]
) -> None:
    strategy = create_strategy()
    fast, slow = list(range(2, 12)), list(range(12, 42, 3))  # 100 combinations
    sweep = {"grid": {"fast": fast, "slow": slow}, "objective": "sharpe_ratio"}
    started = api.post(
        f"/api/strategy/{strategy['id']}/optimize", json=backtest_params(sweep=sweep)
    )
    optimization = wait_for_backtest(api, started.json()["id"])
    ranking = f"/api/backtest/{optimization['id']}/ranking"

    outline = optimization["optimization"]
    pages = [api.get(ranking, params={"offset": at, "limit": 30}).json() for at in (0, 30, 60, 90)]
    rows = [row for page in pages for row in page["rows"]]
    by_trades = api.get(ranking, params={"sort": "total_trades", "limit": 1000}).json()
    fewest = api.get(ranking, params={"sort": "total_trades", "descending": False}).json()

    assert (outline["combinations"], outline["ranked_total"], len(outline["ranked"])) == (
        100,
        100,
        20,
    )
    assert [page["total"] for page in pages] == [100] * 4
    assert [row["rank"] for row in rows] == list(range(1, 101))
    assert [row["parameters"] for row in rows[:20]] == [r["parameters"] for r in outline["ranked"]]
    assert len({tuple(row["parameters"].values()) for row in rows}) == 100
    trades = [row["total_trades"] for row in by_trades["rows"]]
    assert trades == sorted(trades, reverse=True)
    assert fewest["rows"][0]["total_trades"] == min(trades)
    assert api.get(ranking, params={"sort": "luck"}).status_code == 422


def test_a_plain_backtest_has_no_ranking(
    api: httpx.Client, create_strategy: Callable[..., dict[str, Any]]
) -> None:
    strategy = create_strategy()
    started = api.post(f"/api/strategy/{strategy['id']}/backtest", json=backtest_params())
    wait_for_backtest(api, started.json()["id"])

    response = api.get(f"/api/backtest/{started.json()['id']}/ranking")

    assert response.status_code == 409
    assert "not an optimization" in response.json()["detail"]


@pytest.mark.parametrize(
    ("sweep", "message"),
    [
        ({"grid": {"fats": [5]}}, "no parameter named fats"),
        ({"grid": {"fast": [2.5]}}, "must be a whole number"),
        ({"grid": {"fast": [50], "slow": [10]}, "constraint": "fast < slow"}, "no combination"),
        ({"grid": {"fast": [5]}, "constraint": "fast < sma(close, 3)"}, "only parameters"),
        ({"grid": {"fast": list(range(1, 102)), "slow": list(range(1, 101))}}, "at most 10000"),
        ({"grid": {"fast": [5]}, "objective": "luck"}, "Input should be"),
        ({"method": "tpe", "ranges": {"fast": {"low": 2, "high": 9}}, "trials": 5}, "whole number"),
        ({"method": "random", "ranges": {"fats": {"low": 2, "high": 9}}, "trials": 5}, "fats"),
        ({"method": "random", "ranges": {"fast": {"low": 2, "high": 9}}}, "number of trials"),
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
