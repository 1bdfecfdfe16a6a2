"""The main job end to end: a member's backtest travels backend -> compute -> backend."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from helpers import (
    Stack,
    backtest_params,
    long_run_params,
    wait_for_backtest,
    wait_for_idle_workers,
)

pytestmark = pytest.mark.integration


def test_both_services_report_healthy(stack: Stack) -> None:
    compute = httpx.get(f"{stack.services_url}/health").json()
    api = httpx.get(f"{stack.api_url}/api/health").json()
    assert compute["status"] == "ok"
    assert compute["mongo"] is True
    assert compute["worker_pool"]["workers"] == 2
    assert api["status"] == "ok"
    assert api["backend_services"]["status"] == "ok"


def test_backtest_completes_with_a_consistent_result(
    api: httpx.Client, create_strategy: Callable[..., dict[str, Any]]
) -> None:
    strategy = create_strategy()
    response = api.post(f"/api/strategy/{strategy['id']}/backtest", json=backtest_params())
    assert response.status_code == 202
    assert response.json()["status"] == "pending"

    seen: list[dict[str, Any]] = []
    backtest = wait_for_backtest(api, response.json()["id"], seen=seen)

    assert backtest["status"] == "completed", backtest["error"]
    progress = [state["progress"] for state in seen]
    assert progress == sorted(progress)
    assert progress[-1] == 100
    result = backtest["result"]
    assert result["strategy_id"] == strategy["id"]
    assert result["symbol"] == "GOOG"
    assert result["start"].startswith("2005-01-03")
    capital = result["initial_capital"]
    assert result["total_return"] == pytest.approx(result["final_equity"] / capital - 1)
    assert result["total_trades"] == len(result["trades"]) > 0
    assert -1 < result["max_drawdown"] <= 0
    assert 0 <= result["win_rate"] <= 1
    assert result["sharpe_ratio"] is not None
    assert result["periods_per_year"] == pytest.approx(252, rel=0.02)
    curve = result["equity_curve"]
    assert 2 <= len(curve["time"]) == len(curve["equity"]) <= 2_000
    assert len(curve["drawdown"]) == len(curve["buy_and_hold"]) == len(curve["time"])
    assert min(curve["drawdown"]) == pytest.approx(result["max_drawdown"])
    assert curve["equity"][-1] == pytest.approx(result["final_equity"])
    assert all(trade["entry_time"] < trade["exit_time"] for trade in result["trades"])


def test_backtest_resamples_hourly_bars_to_the_requested_timeframe(
    api: httpx.Client, create_strategy: Callable[..., dict[str, Any]]
) -> None:
    strategy = create_strategy(symbol="EURUSD", timeframe="1h")
    params = backtest_params(
        start_date="2017-05-01T00:00:00Z", end_date="2018-01-31T00:00:00Z", timeframe="4h"
    )
    response = api.post(f"/api/strategy/{strategy['id']}/backtest", json=params)
    backtest = wait_for_backtest(api, response.json()["id"])

    assert backtest["status"] == "completed", backtest["error"]
    assert backtest["result"]["timeframe"] == "4h"
    # 24/5 FX market: 6 four-hour bars a day, 5 days a week, about 1,560 a year.
    assert backtest["result"]["periods_per_year"] == pytest.approx(1_560, rel=0.1)


def test_strategy_lists_its_backtests_newest_first(
    api: httpx.Client, create_strategy: Callable[..., dict[str, Any]]
) -> None:
    strategy = create_strategy()
    ids = [
        api.post(f"/api/strategy/{strategy['id']}/backtest", json=backtest_params()).json()["id"]
        for _ in range(2)
    ]
    for backtest_id in ids:
        wait_for_backtest(api, backtest_id)

    listed = api.get(f"/api/strategy/{strategy['id']}/backtests").json()

    assert [item["id"] for item in listed] == ids[::-1]
    assert all(item["status"] == "completed" for item in listed)
    returns = [item["statistics"]["total_return"] for item in listed]
    assert returns[0] == pytest.approx(returns[1])  # capitals differ, returns do not
    assert "trades" not in listed[0]["statistics"]


def test_parameter_overrides_change_the_run(
    api: httpx.Client, create_strategy: Callable[..., dict[str, Any]]
) -> None:
    strategy = create_strategy()
    default = api.post(f"/api/strategy/{strategy['id']}/backtest", json=backtest_params())
    faster = api.post(
        f"/api/strategy/{strategy['id']}/backtest",
        json=backtest_params(parameters={"fast": 5, "slow": 20}, costs={"commission_pct": 0}),
    )
    default_result = wait_for_backtest(api, default.json()["id"])["result"]
    faster_result = wait_for_backtest(api, faster.json()["id"])["result"]

    assert faster_result["total_trades"] > default_result["total_trades"]


def test_a_rule_strategy_trading_both_sides_with_stops(
    api: httpx.Client, create_strategy: Callable[..., dict[str, Any]]
) -> None:
    strategy = create_strategy(
        parameters={"fast": 12, "slow": 26, "oversold": 35},
        rules={
            "long_entry": "crossover(ema(close, fast), ema(close, slow)) and rsi(close) > oversold",
            "long_exit": "crossunder(ema(close, fast), ema(close, slow))",
            "short_entry": "crossunder(macd(close, fast, slow), macd_signal(close, fast, slow))",
            "short_exit": "close > bb_upper(close, 20, 2)",
        },
        orders={
            "stop_loss_pct": 0.05,
            "trailing_stop_pct": 0.1,
            "sizing": {"kind": "fraction_of_equity", "value": 0.5},
        },
        costs={"commission_pct": 0.001, "fee_per_fill": 1, "slippage_pct": 0.0005},
    )

    response = api.post(f"/api/strategy/{strategy['id']}/backtest", json=backtest_params())
    backtest = wait_for_backtest(api, response.json()["id"])

    assert backtest["status"] == "completed", backtest["error"]
    trades = backtest["result"]["trades"]
    assert {trade["side"] for trade in trades} == {"long", "short"}
    assert {"signal", "stop_loss"} <= {trade["exit_reason"] for trade in trades}
    assert backtest["result"]["exposure"] < 1
    assert backtest["result"]["sqn"] is not None


def test_every_trade_is_kept_and_read_in_pages(
    api: httpx.Client, create_strategy: Callable[..., dict[str, Any]], long_symbol: str
) -> None:
    strategy = create_strategy(
        symbol=long_symbol, timeframe="1m", parameters={"fast": 2, "slow": 3}
    )
    params = backtest_params(start_date="2020-09-14T00:00:00Z", end_date="2020-09-24T00:00:00Z")
    path = f"/api/strategy/{strategy['id']}/backtest"
    backtest = wait_for_backtest(api, api.post(path, json=params).json()["id"])
    assert backtest["status"] == "completed", backtest["error"]
    result = backtest["result"]
    assert len(result["trades"]) == 1_000 < result["total_trades"]

    pages, offset = [], 0
    while offset < result["total_trades"]:
        page = api.get(
            f"/api/backtest/{backtest['id']}/trades", params={"offset": offset, "limit": 700}
        )
        assert page.status_code == 200, page.text
        assert page.json()["total"] == result["total_trades"]
        pages.extend(page.json()["trades"])
        offset += 700

    assert len(pages) == result["total_trades"]
    assert pages[:1_000] == result["trades"]
    exits = [trade["exit_time"] for trade in pages]
    assert exits == sorted(exits)
    total_pnl = sum(trade["pnl"] for trade in pages)
    assert total_pnl == pytest.approx(result["final_equity"] - result["initial_capital"])

    reused = api.post(path, json=params).json()
    assert reused["result"]["cached"] is True
    first = api.get(f"/api/backtest/{reused['id']}/trades", params={"limit": 5}).json()
    assert first["trades"] == pages[:5]


def test_trades_of_a_backtest_not_completed_answer_409(
    stack: Stack,
    api: httpx.Client,
    create_strategy: Callable[..., dict[str, Any]],
    long_symbol: str,
) -> None:
    strategy = create_strategy(symbol=long_symbol, timeframe="1m")
    started = api.post(f"/api/strategy/{strategy['id']}/backtest", json=long_run_params()).json()

    response = api.get(f"/api/backtest/{started['id']}/trades")

    assert response.status_code == 409
    api.delete(f"/api/backtest/{started['id']}")
    wait_for_idle_workers(stack.services_url)  # its run stopped: free for the next tests
