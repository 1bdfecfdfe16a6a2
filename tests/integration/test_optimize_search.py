"""A TPE search through the API: its trials in the order they ran, the Deflated Sharpe
Ratio and the PBO beside its winner, and the same answer for the same seed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from helpers import backtest_params, wait_for_backtest

pytestmark = pytest.mark.integration


def test_a_tpe_search_returns_its_trials_and_how_likely_its_winner_is_luck(
    api: httpx.Client, create_strategy: Callable[..., dict[str, Any]]
) -> None:
    strategy = create_strategy()
    sweep = {
        "method": "tpe",
        "ranges": {
            "fast": {"low": 2, "high": 30, "integer": True},
            "slow": {"low": 10, "high": 80, "step": 5, "integer": True},
        },
        "constraint": "fast < slow",
        "trials": 24,
        "seed": 11,
    }
    params = backtest_params(sweep=sweep)
    started = api.post(f"/api/strategy/{strategy['id']}/optimize", json=params)
    assert started.status_code == 202, started.text
    optimization = wait_for_backtest(api, started.json()["id"])

    assert optimization["status"] == "completed", optimization["error"]
    report = optimization["optimization"]
    assert (report["method"], report["combinations"], report["ranked_total"]) == ("tpe", 24, 24)
    trials = report["trial_objectives"]
    assert len(trials) == 24
    assert max(t for t in trials if t is not None) == report["ranked"][0]["objective"]
    assert all((row["parameters"]["slow"] - 10) % 5 == 0 for row in report["ranked"])
    dsr, pbo = report["deflated_sharpe"], report["pbo"]
    assert dsr["trials"] == pbo["trials"] == 24
    assert 0 <= dsr["value"] <= 1
    assert 0 <= pbo["value"] <= 1
    assert (pbo["blocks"], pbo["splits"]) == (16, 12_870)
    assert dsr["observations"] > 1_000  # daily bars, 2005 to 2012
    assert optimization["result"]["sharpe_ratio"] == pytest.approx(report["ranked"][0]["objective"])

    # The same seed, another capital: the same trials in the same order.
    again = api.post(
        f"/api/strategy/{strategy['id']}/optimize", json=backtest_params(sweep=sweep)
    ).json()
    repeated = wait_for_backtest(api, again["id"])["optimization"]
    assert [row["parameters"] for row in repeated["ranked"]] == [
        row["parameters"] for row in report["ranked"]
    ]
