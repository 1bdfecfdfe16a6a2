"""A finished result stands on its own: a symbol that strategies use is deleted only when
forced, and every finished backtest on it stays readable afterwards (result, trades,
exports, report). Strategies are renamed and deleted by their owner only."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from helpers import (
    UPLOADED_RANGE,
    backtest_params,
    csv_rows,
    strategy_fields,
    upload_symbol,
    wait_for_backtest,
)

pytestmark = pytest.mark.integration

SYMBOLS = "/api/market-data/symbols"


def finished_backtest(api: httpx.Client, symbol: str, name: str, **range_: str) -> dict[str, Any]:
    strategy = api.post("/api/strategy", json=strategy_fields(name=name, symbol=symbol))
    assert strategy.status_code == 201, strategy.text
    params = backtest_params(**range_)
    started = api.post(f"/api/strategy/{strategy.json()['id']}/backtest", json=params)
    assert started.status_code == 202, started.text
    backtest = wait_for_backtest(api, started.json()["id"])
    assert backtest["status"] == "completed", backtest
    assert backtest["result"]["total_trades"] > 0
    return backtest


def name_of(api: httpx.Client) -> str:
    name: str = api.get("/api/me").json()["name"]
    return name


def test_a_used_symbol_is_deleted_only_when_forced_and_results_stay_readable(
    new_client: Callable[[], httpx.Client],
) -> None:
    owner, other = new_client(), new_client()
    symbol = upload_symbol(owner)
    theirs = finished_backtest(other, symbol, "Their cross", **UPLOADED_RANGE)
    mine = owner.post("/api/strategy", json=strategy_fields(name="My cross", symbol=symbol))
    before = {
        path: other.get(f"/api/backtest/{theirs['id']}{path}")
        for path in ("", "/trades?limit=5000", "/trades.csv", "/report.html")
    }

    listed = {entry["symbol"]: entry for entry in owner.get(SYMBOLS).json()}
    refused = owner.delete(f"{SYMBOLS}/{symbol}")
    not_theirs = other.delete(f"{SYMBOLS}/{symbol}", params={"force": "true"})
    forced = owner.delete(f"{SYMBOLS}/{symbol}", params={"force": "true"})
    after = {
        path: other.get(f"/api/backtest/{theirs['id']}{path}")
        for path in ("", "/trades?limit=5000", "/trades.csv", "/report.html")
    }

    assert listed[symbol]["owner"] == name_of(owner)
    assert listed["GOOG"]["owner"] == "sample data"
    assert refused.status_code == 409
    assert refused.json()["used_by"] == [
        {"name": "My cross", "owner": name_of(owner), "strategy_id": mine.json()["id"]},
    ]
    assert refused.json()["detail"].startswith(
        f"2 strategies use {symbol}: yours 'My cross' and 1 of other members. "
    )
    assert "force=true" in refused.json()["detail"]
    # Another member's strategy is counted, never named, nor its owner.
    assert "Their cross" not in refused.text
    assert name_of(other) not in refused.text
    assert not_theirs.status_code == 403
    assert forced.status_code == 204
    assert owner.get(f"{SYMBOLS}/{symbol}").status_code == 404
    assert other.get(f"{SYMBOLS}/{symbol}/bars").status_code == 404
    for path, response in after.items():
        assert response.status_code == 200, (path, response.text)
        assert response.content == before[path].content, path
    rows = csv_rows(after["/trades.csv"].text)
    assert len(rows) == theirs["result"]["total_trades"]
    assert after[""].json()["result"]["equity_curve"] == theirs["result"]["equity_curve"]


def test_an_unused_symbol_is_deleted_without_force(api: httpx.Client) -> None:
    symbol = upload_symbol(api, days=20)

    assert api.delete(f"{SYMBOLS}/{symbol}").status_code == 204
    assert api.get(f"{SYMBOLS}/{symbol}").status_code == 404


def test_a_strategy_is_renamed_by_its_owner_only_even_without_bars(
    new_client: Callable[[], httpx.Client],
) -> None:
    owner, other = new_client(), new_client()
    symbol = upload_symbol(owner, days=60)
    strategy = owner.post("/api/strategy", json=strategy_fields(symbol=symbol)).json()
    path = f"/api/strategy/{strategy['id']}"
    assert owner.delete(f"{SYMBOLS}/{symbol}", params={"force": "true"}).status_code == 204

    by_another = other.patch(path, json={"name": "Taken over"})
    empty = owner.patch(path, json={"name": ""})
    more = owner.patch(path, json={"name": "New", "symbol": "GOOG"})
    renamed = owner.patch(path, json={"name": "SMA on old bars"})
    replaced = owner.put(path, json=strategy_fields(name="Replaced", symbol=symbol))

    assert by_another.status_code == 404
    assert empty.status_code == 422
    assert more.status_code == 422
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == "SMA on old bars"
    assert renamed.json()["rules"] == strategy["rules"]
    assert owner.get(path).json()["name"] == "SMA on old bars"
    assert replaced.status_code == 422  # a replacement needs bars; a rename does not
    assert owner.patch("/api/strategy/no-such-one", json={"name": "x"}).status_code == 404


def test_strategies_and_backtests_are_deleted_by_their_owner_only(
    new_client: Callable[[], httpx.Client],
) -> None:
    owner, other = new_client(), new_client()
    backtest = finished_backtest(owner, "GOOG", "Delete me")
    strategy_path = f"/api/strategy/{backtest['strategy_id']}"
    backtest_path = f"/api/backtest/{backtest['id']}"

    assert other.delete(backtest_path, params={"purge": "true"}).status_code == 404
    assert other.delete(strategy_path).status_code == 404
    assert owner.delete(backtest_path, params={"purge": "true"}).status_code == 204
    assert owner.get(backtest_path).status_code == 404
    assert owner.delete(strategy_path).status_code == 204
    assert owner.get(strategy_path).status_code == 404
