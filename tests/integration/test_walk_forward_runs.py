"""Walk-forward validation through the API and the compute service: windows, the
stitched out-of-sample run, refusals before anything is stored, reuse and cancel."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from helpers import backtest_params, long_run_params, wait_for_backtest
from pymongo.database import Database

from shared.mongo import Document

pytestmark = pytest.mark.integration

SWEEP = {"grid": {"fast": [5, 10, 20], "slow": [30, 40]}, "objective": "total_return"}


def test_a_walk_forward_trains_each_window_and_stitches_the_test_runs(
    api: httpx.Client, create_strategy: Callable[..., dict[str, Any]]
) -> None:
    strategy = create_strategy()
    params = backtest_params(sweep=SWEEP, validation={"train": "730d", "test": "365d"})
    started = api.post(f"/api/strategy/{strategy['id']}/optimize", json=params)
    assert started.status_code == 202, started.text
    seen: list[dict[str, Any]] = []
    validated = wait_for_backtest(api, started.json()["id"], seen=seen)

    assert validated["status"] == "completed", validated["error"]
    assert [state["progress"] for state in seen] == sorted(s["progress"] for s in seen)
    assert validated["validation"]["train"] == "730d"
    outcome, result = validated["walk_forward"], validated["result"]
    windows = outcome["windows"]
    assert (outcome["mode"], outcome["objective"]) == ("rolling", "total_return")
    assert len(windows) == 6  # 2005-2006 trains for 2007, ... 2010-2011 for 2012
    for window in windows:
        assert window["train_end"] < window["test_start"] <= window["test_end"]
        assert set(window["parameters"]) == {"fast", "slow"}
    for earlier, later in itertools.pairwise(windows):
        assert earlier["test_end"] < later["test_start"]
    # The result is the test windows stitched: their bars, trades and growth.
    assert result["start"] == windows[0]["test_start"]
    assert result["end"] == windows[-1]["test_end"]
    assert result["bars"] == sum(window["test_bars"] for window in windows)
    assert result["total_trades"] == sum(window["out_of_sample_trades"] for window in windows)
    growth = 1.0
    for window in windows:
        growth *= 1 + window["out_of_sample_return"]
        assert window["out_of_sample"] == pytest.approx(window["out_of_sample_return"])
    assert result["total_return"] == pytest.approx(growth - 1)
    for trade in result["trades"]:
        assert any(w["test_start"] <= trade["entry_time"] <= w["test_end"] for w in windows)
    # A total return over 730 train days does not compare with one over 365 test days.
    assert outcome["efficiency"] is None
    curve = outcome["in_sample_curve"]
    assert len(curve["time"]) == len(curve["equity"]) > len(windows)

    trades = api.get(f"/api/backtest/{validated['id']}/trades").json()
    assert trades["total"] == result["total_trades"]
    [listed] = api.get(f"/api/strategy/{strategy['id']}/backtests").json()
    assert listed["validation"] == validated["validation"]
    assert listed["statistics"]["total_return"] == result["total_return"]

    repeated = api.post(f"/api/strategy/{strategy['id']}/optimize", json=params).json()
    assert repeated["status"] == "completed"
    assert repeated["result"]["cached"] is True
    assert repeated["walk_forward"] == outcome
    anchored = params | {"validation": {"mode": "anchored", "train": "730d", "test": "365d"}}
    other = api.post(f"/api/strategy/{strategy['id']}/optimize", json=anchored).json()
    assert other["status"] == "pending"  # other windows: other work, not the stored one
    assert wait_for_backtest(api, other["id"])["walk_forward"]["mode"] == "anchored"


def test_windows_too_short_for_the_rules_are_refused_before_anything_is_stored(
    api: httpx.Client, create_strategy: Callable[..., dict[str, Any]], db: Database[Document]
) -> None:
    strategy = create_strategy()
    path = f"/api/strategy/{strategy['id']}/optimize"
    stored_before = db["backtests"].count_documents({})

    short = api.post(path, json=backtest_params(sweep=SWEEP, validation={"train": 35, "test": 20}))
    days = api.post(
        path, json=backtest_params(sweep=SWEEP, validation={"train": "4w", "test": "1w"})
    )
    mixed = api.post(
        path, json=backtest_params(sweep=SWEEP, validation={"train": 90, "test": "1w"})
    )

    assert short.status_code == 422, short.text
    [error] = short.json()["errors"]
    assert error["loc"][-2:] == ["validation", "train"]
    assert "needs 41 1d bars for a first value with fast=5, slow=40" in error["msg"]
    assert days.status_code == 422
    assert "a train window of 4w holds at most 28" in days.text
    assert mixed.status_code == 422
    assert "all be bar counts or all durations" in mixed.text
    assert db["backtests"].count_documents({}) == stored_before
    assert api.get(f"/api/strategy/{strategy['id']}/backtests").json() == []


def test_a_walk_forward_is_cancelled_like_any_backtest(
    api: httpx.Client, create_strategy: Callable[..., dict[str, Any]], long_symbol: str
) -> None:
    strategy = create_strategy(symbol=long_symbol, timeframe="1m")
    sweep = {"grid": {"fast": list(range(100, 140)), "slow": [800]}}
    validation = {"train": 600_000, "test": 300_000}
    started = api.post(
        f"/api/strategy/{strategy['id']}/optimize",
        json=long_run_params() | {"sweep": sweep, "validation": validation},
    ).json()
    wait_for_backtest(api, started["id"], until=lambda b: b["progress"] >= 55)

    cancelled = api.delete(f"/api/backtest/{started['id']}")

    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    backtest = wait_for_backtest(api, started["id"])
    assert (backtest["status"], backtest["result"], backtest["walk_forward"]) == (
        "cancelled",
        None,
        None,
    )
