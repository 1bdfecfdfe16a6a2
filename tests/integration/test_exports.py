"""Trades and rankings as CSV files, identical to what the API pages out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from helpers import backtest_params, csv_rows, long_run_params, wait_for_backtest

pytestmark = pytest.mark.integration


def rows_of(response: httpx.Response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    return csv_rows(response.text)


def test_every_trade_is_exported_in_order(
    api: httpx.Client,
    create_strategy: Callable[..., dict[str, Any]],
    long_symbol: str,
) -> None:
    strategy = create_strategy(
        symbol=long_symbol, timeframe="1m", parameters={"fast": 2, "slow": 4}, costs={}
    )
    params = backtest_params(
        start_date="2020-09-13T00:00:00Z", end_date="2020-11-13T00:00:00Z", timeframe="1m"
    )
    started = api.post(f"/api/strategy/{strategy['id']}/backtest", json=params).json()
    backtest = wait_for_backtest(api, started["id"])
    total = backtest["result"]["total_trades"]
    assert total > 5_000  # more than one page of the compute service's

    exported = rows_of(api.get(f"/api/backtest/{started['id']}/trades.csv"))
    page = api.get(f"/api/backtest/{started['id']}/trades", params={"offset": 5_000, "limit": 3})

    assert len(exported) == total
    for row, trade in zip(exported[5_000:5_003], page.json()["trades"], strict=True):
        assert row["entry_time"] == trade["entry_time"]
        assert float(row["pnl"]) == pytest.approx(trade["pnl"])


def test_a_ranking_is_exported_best_first(
    api: httpx.Client, create_strategy: Callable[..., dict[str, Any]]
) -> None:
    strategy = create_strategy()
    sweep = {"grid": {"fast": [5, 10, 15], "slow": [20, 40]}, "objective": "total_return"}
    started = api.post(
        f"/api/strategy/{strategy['id']}/optimize", json=backtest_params(sweep=sweep)
    )
    optimization = wait_for_backtest(api, started.json()["id"])

    exported = rows_of(api.get(f"/api/backtest/{optimization['id']}/ranking.csv"))

    assert [row["rank"] for row in exported] == ["1", "2", "3", "4", "5", "6"]
    assert list(exported[0])[:3] == ["rank", "fast", "slow"]
    best = optimization["optimization"]["ranked"][0]
    assert (int(exported[0]["fast"]), int(exported[0]["slow"])) == (
        best["parameters"]["fast"],
        best["parameters"]["slow"],
    )
    assert float(exported[0]["objective"]) == pytest.approx(best["objective"])


def test_a_plain_backtest_has_no_ranking_to_export(
    api: httpx.Client, create_strategy: Callable[..., dict[str, Any]]
) -> None:
    strategy = create_strategy()
    started = api.post(f"/api/strategy/{strategy['id']}/backtest", json=backtest_params()).json()
    wait_for_backtest(api, started["id"])

    assert api.get(f"/api/backtest/{started['id']}/ranking.csv").status_code == 409


def test_a_report_is_one_self_contained_html_file(
    api: httpx.Client, create_strategy: Callable[..., dict[str, Any]]
) -> None:
    strategy = create_strategy(name="Report <SMA> & co")
    started = api.post(f"/api/strategy/{strategy['id']}/backtest", json=backtest_params()).json()
    backtest = wait_for_backtest(api, started["id"])

    report = api.get(f"/api/backtest/{started['id']}/report.html")

    assert report.status_code == 200
    assert report.headers["content-type"].startswith("text/html")
    page = report.text
    assert page.count("<svg") == 3  # equity with buy-and-hold, drawdown, rolling Sharpe
    assert page.count("<polyline") == 4
    assert "Report &lt;SMA&gt; &amp; co: GOOG 1d" in page
    total = f"{backtest['result']['total_return'] * 100:,.2f} %"
    assert f"<td>total return</td><td>{total}</td>" in page
    assert page.count("<tr><td>long</td>") == backtest["result"]["total_trades"]
    # Nothing it needs lies outside the file.
    assert "<script" not in page
    assert "http://" not in page
    assert "https://" not in page
    assert "src=" not in page


def test_a_backtest_that_has_not_completed_has_no_report(
    api: httpx.Client, create_strategy: Callable[..., dict[str, Any]], long_symbol: str
) -> None:
    strategy = create_strategy(symbol=long_symbol, timeframe="1m")
    started = api.post(f"/api/strategy/{strategy['id']}/backtest", json=long_run_params()).json()

    report = api.get(f"/api/backtest/{started['id']}/report.html")
    api.delete(f"/api/backtest/{started['id']}")

    assert report.status_code == 409
