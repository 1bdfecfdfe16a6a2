"""Bad backtest parameters get a clear 422 before anything is stored or run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from helpers import backtest_params, strategy_fields, wait_for_backtest

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        (
            backtest_params(start_date="2010-01-01T00:00:00Z", end_date="2009-01-01T00:00:00Z"),
            "end_date must be after start_date",
        ),
        (backtest_params(timeframe="2h"), "timeframe"),
        (backtest_params(initial_capital=0), "initial_capital"),
        (backtest_params(initial_capital=-5), "initial_capital"),
        (backtest_params(start_date="not a date"), "start_date"),
        (backtest_params(parameters={"fast": 2.5}), "parameter 'fast' is a period"),
        (backtest_params(parameters={"fastest": 5}), "no parameter named fastest"),
        (
            backtest_params(start_date="1990-01-01T00:00:00Z", end_date="1999-01-01T00:00:00Z"),
            "no GOOG data between 1990-01-01 and 1999-01-01; stored: 2004-08-19 to 2013-03-01",
        ),
        (backtest_params(timeframe="1h"), "GOOG is stored as 1d bars"),
        (backtest_params(symbol="NOPE"), "no market data for symbol 'NOPE'"),
    ],
)
def test_bad_params_get_422_and_store_nothing(
    api: httpx.Client,
    create_strategy: Callable[..., dict[str, Any]],
    params: dict[str, Any],
    reason: str,
) -> None:
    strategy = create_strategy()

    response = api.post(f"/api/strategy/{strategy['id']}/backtest", json=params)

    assert response.status_code == 422
    assert reason in str(response.json()["detail"])
    assert api.get(f"/api/strategy/{strategy['id']}/backtests").json() == []


def test_malformed_json_gets_422(api: httpx.Client) -> None:
    response = api.post(
        "/api/strategy", content=b"{not json", headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 422


def test_a_range_with_too_few_bars_fails_with_a_readable_error(
    api: httpx.Client, create_strategy: Callable[..., dict[str, Any]]
) -> None:
    # A rule that needs no history: the range is not refused for it before the run.
    strategy = create_strategy(rules={"long_entry": "close > open", "long_exit": "close < open"})
    # Saturday to Sunday: inside the stored range, but no trading day in it.
    params = backtest_params(start_date="2010-01-02T00:00:00Z", end_date="2010-01-03T00:00:00Z")

    response = api.post(f"/api/strategy/{strategy['id']}/backtest", json=params)
    backtest = api.get(f"/api/backtest/{response.json()['id']}").json()
    while backtest["status"] not in ("completed", "failed", "cancelled"):
        backtest = api.get(f"/api/backtest/{backtest['id']}").json()

    assert backtest["status"] == "failed"
    assert "0 1d bar(s) of GOOG" in backtest["error"]
    assert "a backtest needs at least 2" in backtest["error"]


def test_oversized_bodies_get_413_and_store_nothing(api: httpx.Client) -> None:
    huge_name = {"name": "x" * (2 << 20), "symbol": "GOOG"}

    declared = api.post("/api/strategy", json=huge_name)
    streamed = api.post(
        "/api/strategy",
        content=(b"x" * 65_536 for _ in range(40)),
        headers={"Content-Type": "application/json"},
    )

    assert declared.status_code == 413
    assert streamed.status_code == 413
    assert "larger than 1,048,576 bytes" in streamed.json()["detail"]
    assert api.get("/api/strategy").json() == []


def test_no_stack_trace_reaches_a_client(api: httpx.Client) -> None:
    bad = api.post(
        "/api/strategy", content=b"\xff\xfe", headers={"Content-Type": "application/json"}
    )

    assert bad.status_code in (400, 422)
    assert "Traceback" not in bad.text
    assert set(bad.json()) == {"detail", "errors", "report"}


@pytest.mark.parametrize(
    ("fields", "where", "reason"),
    [
        ({"symbol": "NOPE"}, "symbol", "no market data for symbol 'NOPE'; stored: "),
        ({"timeframe": "1h"}, "timeframe", "GOOG is stored as 1d bars, so 1h cannot be made"),
    ],
)
def test_a_strategy_without_market_data_is_refused_when_saved(
    api: httpx.Client,
    create_strategy: Callable[..., dict[str, Any]],
    fields: dict[str, Any],
    where: str,
    reason: str,
) -> None:
    saved = create_strategy()

    created = api.post("/api/strategy", json=strategy_fields(**fields))
    updated = api.put(f"/api/strategy/{saved['id']}", json=strategy_fields(**fields))

    for response in (created, updated):
        assert response.status_code == 422
        [error] = response.json()["errors"]
        assert error["loc"] == ["body", where]
        assert reason in error["msg"]
    assert "GOOG" in created.json()["detail"] or where == "timeframe"
    assert "usable: 1d, 1w" in updated.json()["detail"] or where == "symbol"
    assert [strategy["id"] for strategy in api.get("/api/strategy").json()] == [saved["id"]]


def test_a_range_wider_than_the_data_says_the_range_used(
    api: httpx.Client, create_strategy: Callable[..., dict[str, Any]]
) -> None:
    strategy = create_strategy()
    params = backtest_params(start_date="2004-01-01T00:00:00Z", end_date="2014-12-31T00:00:00Z")

    started = api.post(f"/api/strategy/{strategy['id']}/backtest", json=params).json()
    finished = wait_for_backtest(api, started["id"])

    [note] = started["notes"]
    assert "GOOG has bars from 2004-08-19" in note
    assert "not over the whole range asked for (2004-01-01 to 2014-12-31)" in note
    assert finished["notes"] == [note]
    assert finished["result"]["start"].startswith("2004-08-19")
    assert finished["result"]["end"].startswith("2013-03-01")


def test_a_range_shorter_than_a_rule_needs_is_refused_before_anything_is_stored(
    api: httpx.Client, create_strategy: Callable[..., dict[str, Any]]
) -> None:
    """adx(14) has its first value on the 28th bar; GOOG's daily bars from 2010-01-04 to
    2010-01-22 are at most 19 (15 with the weekends)."""
    strategy = create_strategy(
        rules={"long_entry": "adx(high, low, close, 14) > 25", "long_exit": "close < sma(close, 5)"}
    )
    short = backtest_params(start_date="2010-01-04T00:00:00Z", end_date="2010-01-22T00:00:00Z")
    enough = backtest_params(start_date="2010-01-04T00:00:00Z", end_date="2010-03-31T00:00:00Z")

    refused = api.post(f"/api/strategy/{strategy['id']}/backtest", json=short)
    accepted = api.post(f"/api/strategy/{strategy['id']}/backtest", json=enough)

    assert refused.status_code == 422
    assert refused.json()["detail"] == (
        "refused: rules.long_entry: adx needs 28 1d bars for a first value; GOOG has at "
        "most 19 between 2010-01-04 00:00 and 2010-01-22 00:00"
    )
    assert accepted.status_code == 202
    stored = api.get(f"/api/strategy/{strategy['id']}/backtests").json()
    assert [backtest["id"] for backtest in stored] == [accepted.json()["id"]]


def test_a_sweep_is_refused_when_one_of_its_trials_needs_more_bars_than_the_range_holds(
    api: httpx.Client, create_strategy: Callable[..., dict[str, Any]]
) -> None:
    """The strategy's own period needs 28 bars, which the range has; the grid's 50 and
    the search's upper end 45 need more (adx(n) first has a value on bar 2n)."""
    strategy = create_strategy(
        parameters={"period": 14, "level": 25},
        rules={"long_entry": "adx(high, low, close, period) > level", "long_exit": "close < 0"},
    )
    path = f"/api/strategy/{strategy['id']}/optimize"
    span = {"start_date": "2010-01-04T00:00:00Z", "end_date": "2010-03-31T00:00:00Z"}

    grid = api.post(path, json=backtest_params(**span, sweep={"grid": {"period": [14, 50]}}))
    search = api.post(
        path,
        json=backtest_params(
            **span,
            sweep={
                "method": "random",
                "trials": 5,
                "ranges": {"period": {"low": 10, "high": 45, "integer": True}},
            },
        ),
    )
    fits = api.post(path, json=backtest_params(**span, sweep={"grid": {"period": [10, 14, 20]}}))

    assert grid.status_code == 422
    assert grid.json()["detail"] == (
        "refused: rules.long_entry: adx needs 100 1d bars for a first value with "
        "period=50; GOOG has at most 87 between 2010-01-04 00:00 and 2010-03-31 00:00"
    )
    assert search.status_code == 422
    assert "adx needs 90 1d bars for a first value with period=45" in search.json()["detail"]
    assert fits.status_code == 202
    stored = api.get(f"/api/strategy/{strategy['id']}/backtests").json()
    assert [backtest["id"] for backtest in stored] == [fits.json()["id"]]


@pytest.mark.parametrize(
    "end", ["2012-12-31T00:00:00Z", "2013-03-01T00:00:00Z", "2013-03-01T23:59:59Z"]
)
def test_a_range_inside_the_data_has_no_notes(
    api: httpx.Client, create_strategy: Callable[..., dict[str, Any]], end: str
) -> None:
    """The last stored day (2013-03-01) covers its whole day."""
    strategy = create_strategy()

    started = api.post(
        f"/api/strategy/{strategy['id']}/backtest",
        json=backtest_params(start_date="2004-08-19T00:00:00Z", end_date=end),
    )

    assert started.json()["notes"] == []
