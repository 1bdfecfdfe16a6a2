"""Portfolios through the real services: a basket run with one account, its
contributions, correlations and tagged trades; one symbol is the single backtest; a
portfolio that cannot run is refused in words before anything is stored."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from helpers import Stack, backtest_params, csv_rows, run_botclub, wait_for_backtest
from pymongo.database import Database

from backend_services.market_data.importer import import_bars
from shared.market_data.bars import Bars
from shared.mongo import Document

pytestmark = pytest.mark.integration

DAY = 86_400
FIRST_DAY = 1_104_710_400  # 2005-01-03
SMA_RULES = {
    "long_entry": "crossover(sma(close, fast), sma(close, slow))",
    "long_exit": "crossunder(sma(close, fast), sma(close, slow))",
}


def _daily_walk(days: int, seed: int, every_nth_missing: int = 0) -> Bars:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.015, days)))
    open_ = np.concatenate([[close[0]], close[:-1]])
    kept = np.ones(days, dtype=bool)
    if every_nth_missing:
        kept[every_nth_missing - 1 :: every_nth_missing] = False
    bars = Bars(
        time=FIRST_DAY + DAY * np.arange(days, dtype=np.int64),
        open=open_,
        high=np.maximum(open_, close) * 1.002,
        low=np.minimum(open_, close) * 0.998,
        close=close,
        volume=np.ones(days),
    )
    return bars.take(kept)


@pytest.fixture(scope="module")
def basket(db: Database[Document]) -> list[str]:
    """Two daily series of 2005-2012 (the second without every seventh day) and GOOG."""
    import_bars(db, "PF_ALPHA", _daily_walk(2_900, seed=11))
    import_bars(db, "PF_BETA", _daily_walk(2_900, seed=12, every_nth_missing=7))
    return ["PF_ALPHA", "PF_BETA", "GOOG"]


def _strategy(create_strategy: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    return create_strategy(symbol="PF_ALPHA", timeframe="1d", rules=SMA_RULES)


def test_a_portfolio_completes_with_contributions_correlations_and_tagged_trades(
    api: httpx.Client, create_strategy: Callable[..., dict[str, Any]], basket: list[str]
) -> None:
    strategy = _strategy(create_strategy)
    portfolio = {
        "symbols": basket,
        "weighting": "fixed",
        "weights": [0.5, 0.3, 0.2],
        "rebalance": {"every": 20, "unit": "bars"},
    }
    params = backtest_params(portfolio=portfolio)
    started = api.post(f"/api/strategy/{strategy['id']}/backtest", json=params)
    assert started.status_code == 202, started.text
    backtest = wait_for_backtest(api, started.json()["id"])
    assert backtest["status"] == "completed", backtest["error"]
    again = api.post(f"/api/strategy/{strategy['id']}/backtest", json=params).json()
    assert again["status"] == "completed"
    assert again["result"]["cached"] is True
    reweighted = params | {"portfolio": portfolio | {"weights": [0.4, 0.4, 0.2]}}
    other = api.post(f"/api/strategy/{strategy['id']}/backtest", json=reweighted).json()
    assert other["status"] == "pending"  # another basket is other work
    assert backtest["params"]["portfolio"]["symbols"] == basket

    result = backtest["result"]
    part = result["portfolio"]
    assert [share["symbol"] for share in part["symbols"]] == basket
    assert [share["weight"] for share in part["symbols"]] == [0.5, 0.3, 0.2]
    assert part["rebalances"] > 50
    assert all(share["trades"] > 0 and share["data_version"] for share in part["symbols"])
    assert sum(share["return_contribution"] for share in part["symbols"]) == pytest.approx(
        result["total_return"]
    )
    correlation = part["correlation"]
    assert [len(row) for row in correlation] == [3, 3, 3]
    assert [correlation[i][i] for i in range(3)] == pytest.approx([1, 1, 1])
    assert correlation[0][1] == pytest.approx(correlation[1][0])

    assert result["total_trades"] == sum(share["trades"] for share in part["symbols"])
    page = api.get(f"/api/backtest/{backtest['id']}/trades", params={"limit": 1000}).json()
    assert {trade["symbol"] for trade in page["trades"]} == set(basket)
    entries = [trade["entry_time"] for trade in page["trades"]]
    assert entries == sorted(entries)
    exported = api.get(f"/api/backtest/{backtest['id']}/trades.csv")
    assert exported.text.startswith(f"# Portfolio: {', '.join(basket)} ")
    rows = csv_rows(exported.text)
    assert [row["symbol"] for row in rows] == [trade["symbol"] for trade in page["trades"]]

    report = api.get(f"/api/backtest/{backtest['id']}/report.html").text
    contributions = report.split('<table id="contributions">')[1].split("</table>")[0]
    assert f"<tr><td>{basket[0]}</td><td>50.00 %</td>" in contributions
    assert contributions.count("<tr><td>") == 3
    matrix = report.split('<table id="correlation">')[1].split("</table>")[0]
    assert matrix.count("<td>1.00</td>") == 3  # each symbol with itself


def test_a_one_symbol_portfolio_is_the_single_backtest(
    api: httpx.Client, create_strategy: Callable[..., dict[str, Any]], basket: list[str]
) -> None:
    strategy = _strategy(create_strategy)
    params = backtest_params(costs={"commission_pct": 0.001, "fee_per_fill": 1.0})
    runs = []
    for extra in ({"portfolio": {"symbols": ["PF_BETA"]}}, {"symbol": "PF_BETA"}):
        started = api.post(f"/api/strategy/{strategy['id']}/backtest", json=params | extra)
        assert started.status_code == 202, started.text
        runs.append(wait_for_backtest(api, started.json()["id"]))
    portfolio, single = (run["result"] for run in runs)
    assert portfolio["portfolio"]["symbols"][0]["symbol"] == "PF_BETA"
    assert portfolio["total_trades"] > 5
    skipped = {"portfolio", "trades", "data_version", "cached"}
    assert {k: v for k, v in portfolio.items() if k not in skipped} == {
        k: v for k, v in single.items() if k not in skipped
    }
    assert [trade | {"symbol": None} for trade in portfolio["trades"]] == single["trades"]
    assert {trade["symbol"] for trade in portfolio["trades"]} == {"PF_BETA"}


@pytest.mark.parametrize(
    ("changes", "place", "words"),
    [
        (
            {"portfolio": {"symbols": ["PF_ALPHA", "NO_SUCH"]}},
            ["body", "portfolio", "symbols", "1"],
            "NO_SUCH: no market data for symbol 'NO_SUCH'",
        ),
        (
            {"portfolio": {"symbols": ["PF_ALPHA", "GOOG"], "weighting": "fixed",
                           "weights": [0.7, 0.7]}},
            ["body", "portfolio"],
            "they sum to 1.4, not 1",
        ),
        (
            {"portfolio": {"symbols": ["PF_ALPHA", "GOOG"]}, "timeframe": "1h"},
            ["body", "portfolio", "symbols", "0"],
            "cannot be made",
        ),
        (
            {
                "portfolio": {"symbols": ["GOOG", "PF_ALPHA"]},
                "parameters": {"slow": 200},
                "start_date": "2004-01-01T00:00:00Z",
                "end_date": "2005-06-30T00:00:00Z",
            },
            ["body", "portfolio", "symbols", "1"],
            "PF_ALPHA: rules.long_entry: crossover needs 201 1d bars",
        ),
        (
            {"portfolio": {"symbols": ["PF_ALPHA", "GOOG"]}, "symbol": "GOOG"},
            ["body", "symbol"],
            "given in portfolio.symbols",
        ),
    ],
)  # fmt: skip
def test_a_portfolio_that_cannot_run_is_refused_in_words_before_anything_is_stored(
    api: httpx.Client,
    create_strategy: Callable[..., dict[str, Any]],
    basket: list[str],
    changes: dict[str, Any],
    place: list[str],
    words: str,
) -> None:
    strategy = _strategy(create_strategy)
    refused = api.post(f"/api/strategy/{strategy['id']}/backtest", json=backtest_params(**changes))
    assert refused.status_code == 422, refused.text
    problem = refused.json()["errors"][0]
    assert problem["loc"][: len(place)] == place
    assert words in problem["msg"]
    assert api.get(f"/api/strategy/{strategy['id']}/backtests").json() == []


def test_a_portfolio_cannot_be_swept(
    api: httpx.Client, create_strategy: Callable[..., dict[str, Any]], basket: list[str]
) -> None:
    strategy = _strategy(create_strategy)
    params = backtest_params(portfolio={"symbols": basket}, sweep={"grid": {"fast": [5, 10]}})
    refused = api.post(f"/api/strategy/{strategy['id']}/optimize", json=params)
    assert refused.status_code == 422, refused.text
    assert "cannot be swept" in refused.json()["errors"][0]["msg"]


def test_the_command_line_runs_a_portfolio_and_shows_its_contributions_and_correlations(
    api: httpx.Client,
    create_strategy: Callable[..., dict[str, Any]],
    basket: list[str],
    stack: Stack,
    tmp_path: Path,
) -> None:
    strategy = _strategy(create_strategy)
    token = api.headers["Authorization"].removeprefix("Bearer ")
    signed_in = run_botclub(tmp_path, {}, "login", "--server", stack.api_url, f"--token={token}")
    assert signed_in.returncode == 0, signed_in.stderr
    ran = run_botclub(
        tmp_path,
        {},
        "backtest",
        strategy["id"],
        "--portfolio=PF_ALPHA,PF_BETA",
        "--weights=0.6,0.4",
        "--rebalance=1weeks",
        "--from=2005-01-01",
        "--to=2012-12-31",
        "--follow",
    )
    assert ran.returncode == 0, ran.stderr
    lines = ran.stdout.splitlines()
    assert any(line.startswith("portfolio of 2, rebalanced ") for line in lines), ran.stdout
    table = lines[lines.index(next(line for line in lines if line.startswith("portfolio of"))) :]
    shares = [line.split() for line in table if line.startswith(("PF_ALPHA ", "PF_BETA "))]
    assert [row[:3] for row in shares[:2]] == [
        ["PF_ALPHA", "60.00", "%"],
        ["PF_BETA", "40.00", "%"],
    ]
    assert [row[0] for row in shares[2:]] == ["PF_ALPHA", "PF_BETA"]  # the matrix's rows
    assert float(shares[2][1]) == float(shares[3][2]) == 1

    refused = run_botclub(tmp_path, {}, "backtest", strategy["id"], "--rebalance=often")
    assert refused.returncode != 0
    assert "--weights and --rebalance need --portfolio" in refused.stderr
