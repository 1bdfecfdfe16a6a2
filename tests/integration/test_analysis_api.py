"""A backtest's analysis through the API, trades.csv and report.html: monthly returns,
worst drawdowns, the long / short split, rolling Sharpe and the per-trade columns; an
optimization's report with its heatmap and ranking."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from helpers import backtest_params, both_sides_backtest, csv_rows, wait_for_backtest

pytestmark = pytest.mark.integration

EXTRA_COLUMNS = ("duration_seconds", "notional", "commission", "run_up", "drawdown")


@pytest.fixture
def both_sides(api: httpx.Client) -> dict[str, Any]:
    return both_sides_backtest(api)


def test_a_result_carries_its_analysis(both_sides: dict[str, Any]) -> None:
    result = both_sides["result"]
    analysis = result["analysis"]

    months = analysis["monthly_returns"]
    assert (months[0]["year"], months[0]["month"]) == (2005, 1)
    assert (months[-1]["year"], months[-1]["month"]) == (2012, 12)
    assert [year["year"] for year in analysis["yearly_returns"]] == list(range(2005, 2013))
    growth = math.prod(1 + year["return_fraction"] for year in analysis["yearly_returns"])
    assert growth - 1 == pytest.approx(result["total_return"])

    worst = analysis["worst_drawdowns"]
    assert len(worst) == 5
    assert worst[0]["depth"] == pytest.approx(result["max_drawdown"])
    assert [period["depth"] for period in worst] == sorted(period["depth"] for period in worst)
    assert all(p["start"] < p["trough"] for p in worst)

    sides = analysis["sides"]
    assert sides["long"]["trades"] > 0
    assert sides["short"]["trades"] > 0
    assert sides["long"]["trades"] + sides["short"]["trades"] == result["total_trades"]
    assert sides["all"]["total_pnl"] == pytest.approx(
        result["final_equity"] - result["initial_capital"]
    )

    rolling = analysis["rolling_sharpe"]
    # A quarter of 252 daily bars, in whole blocks of the bars' returns cut in 500.
    block = math.ceil((result["bars"] - 1) / 500)
    assert rolling["window_bars"] == round(63 / block) * block
    assert len(rolling["time"]) == len(rolling["sharpe"]) > 100

    for trade in result["trades"]:
        assert all(trade[name] is not None for name in EXTRA_COLUMNS)
        assert trade["run_up"] >= 0 >= trade["drawdown"]


def test_trades_endpoint_and_csv_carry_the_per_trade_columns(
    api: httpx.Client, both_sides: dict[str, Any]
) -> None:
    backtest_id = both_sides["id"]
    page = api.get(f"/api/backtest/{backtest_id}/trades", params={"offset": 0, "limit": 5}).json()
    exported = csv_rows(api.get(f"/api/backtest/{backtest_id}/trades.csv").text)

    assert page["trades"] == both_sides["result"]["trades"][:5]
    assert len(exported) == both_sides["result"]["total_trades"]
    for row, trade in zip(exported, page["trades"], strict=False):
        for name in EXTRA_COLUMNS:
            assert float(row[name]) == pytest.approx(trade[name])


def test_report_shows_the_analysis(api: httpx.Client, both_sides: dict[str, Any]) -> None:
    page = api.get(f"/api/backtest/{both_sides['id']}/report.html").text
    analysis = both_sides["result"]["analysis"]

    monthly = _table(page, "monthly-returns")
    assert monthly.count("<tr>") == 1 + 8  # the header and a row a year
    first_year = analysis["yearly_returns"][0]["return_fraction"]
    assert "<td>2005</td>" in monthly
    assert f"{first_year * 100:,.2f} %</td></tr>" in monthly.split("<td>2006</td>")[0]

    drawdowns = _table(page, "worst-drawdowns")
    assert drawdowns.count("<tr><td>") == 5
    assert f"{analysis['worst_drawdowns'][0]['depth'] * 100:,.2f} %" in drawdowns

    split = _table(page, "side-split")
    sides = analysis["sides"]
    trades = (
        f"<tr><td>trades</td><td>{sides['all']['trades']}</td><td>{sides['long']['trades']}</td>"
    )
    assert trades in split

    assert f"Rolling Sharpe ratio ({analysis['rolling_sharpe']['window_bars']} bars)" in page
    assert page.count("<svg") == 3  # equity, drawdown and rolling Sharpe
    for header in ("duration", "notional", "commission", "run-up", "drawdown"):
        assert f"<th>{header}</th>" in page
    first = both_sides["result"]["trades"][0]
    assert f"<td>{first['commission']:,.2f}</td><td>{first['run_up'] * 100:,.2f} %</td>" in page


def test_an_optimization_report_carries_its_heatmap_and_ranking(
    api: httpx.Client, create_strategy: Callable[..., dict[str, Any]]
) -> None:
    strategy = create_strategy()
    sweep = {"grid": {"fast": [5, 10, 15], "slow": [20, 40]}, "objective": "sharpe_ratio"}
    started = api.post(
        f"/api/strategy/{strategy['id']}/optimize", json=backtest_params(sweep=sweep)
    )
    optimization = wait_for_backtest(api, started.json()["id"])

    page = api.get(f"/api/backtest/{optimization['id']}/report.html").text

    heatmap = page.split('<svg id="heatmap"')[1].split("</svg>")[0]
    assert heatmap.count("<title>") == 6  # a cell per combination
    best = optimization["optimization"]["ranked"][0]
    fast, slow = best["parameters"]["fast"], best["parameters"]["slow"]
    assert (
        f"<title>fast = {fast}, slow = {slow}: sharpe ratio {best['objective']:,.4g}</title>"
        in heatmap
    )
    ranking = _table(page, "ranking")
    rows = re.findall(r"<tr><td>(\d+)</td><td>(\d+)</td><td>(\d+)</td>", ranking)
    assert rows[0] == ("1", str(fast), str(slow))
    assert [int(rank) for rank, _, _ in rows] == [1, 2, 3, 4, 5, 6]
    assert "6 combinations ranked by sharpe ratio" in page
    # Beside the winner, how likely it is to be luck, as the API says it.
    dsr, pbo = (optimization["optimization"][name]["value"] for name in ("deflated_sharpe", "pbo"))
    assert f"Deflated Sharpe ratio {dsr * 100:.2f} %: the chance the best beats" in page
    assert "the luckiest of 6 tries" in page
    assert f"Probability of backtest overfitting {pbo * 100:.2f} %: how often" in page


def test_a_plain_backtest_report_has_no_optimization(
    api: httpx.Client, both_sides: dict[str, Any]
) -> None:
    page = api.get(f"/api/backtest/{both_sides['id']}/report.html").text
    assert 'id="heatmap"' not in page
    assert 'id="ranking"' not in page


def _table(page: str, table_id: str) -> str:
    return page.split(f'id="{table_id}">')[1].split("</table>")[0]
