"""Strategy CRUD, validation and ownership."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from helpers import Stack, backtest_params, strategy_fields, wait_for_backtest

from shared.rules.functions import FUNCTIONS
from shared.rules.parser import parse_rule

pytestmark = pytest.mark.integration


def test_strategy_create_list_get_update_delete(api: httpx.Client) -> None:
    created = api.post("/api/strategy", json=strategy_fields(name="first"))
    assert created.status_code == 201
    strategy = created.json()

    assert [s["id"] for s in api.get("/api/strategy").json()] == [strategy["id"]]
    assert api.get(f"/api/strategy/{strategy['id']}").json() == strategy

    updated = api.put(
        f"/api/strategy/{strategy['id']}",
        json=strategy_fields(name="renamed", parameters={"fast": 5, "slow": 50}),
    )
    assert updated.status_code == 200
    assert updated.json()["name"] == "renamed"
    assert updated.json()["parameters"] == {"fast": 5, "slow": 50}
    assert updated.json()["created_at"] == strategy["created_at"]

    assert api.delete(f"/api/strategy/{strategy['id']}").status_code == 204
    assert api.get(f"/api/strategy/{strategy['id']}").status_code == 404


@pytest.mark.parametrize(
    "fields",
    [
        strategy_fields(parameters={"fast": 0, "slow": 10}),
        strategy_fields(rules={"long_entry": "close > sma(close, fast) and"}),
        strategy_fields(orders={"stop_loss_pct": 2}),
        strategy_fields(timeframe="2h"),
        strategy_fields(symbol="GO OG"),
        strategy_fields(name=""),
        strategy_fields(costs={"commission_pct": -0.01}),
        strategy_fields(unexpected=1),
    ],
)
def test_invalid_strategy_is_refused_with_422(api: httpx.Client, fields: dict[str, Any]) -> None:
    response = api.post("/api/strategy", json=fields)

    assert response.status_code == 422
    assert response.json()["detail"]
    assert api.get("/api/strategy").json() == []


def test_a_bad_rule_is_refused_with_its_position_and_a_hint(api: httpx.Client) -> None:
    fields = strategy_fields(rules={"long_entry": "crossover(smaa(close, fast), close)"})

    response = api.post("/api/strategy", json=fields)

    assert response.status_code == 422
    (error,) = response.json()["errors"]
    assert error["loc"] == ["body"]
    assert error["msg"] == "rules.long_entry: unknown function 'smaa' at 1:11, did you mean 'sma'?"
    assert response.json()["detail"] == f"refused: {error['msg']}"


def test_every_error_of_every_rule_is_reported_at_once_in_words(api: httpx.Client) -> None:
    fields = strategy_fields(
        rules={
            "long_entry": "rsi(close, 1) > 70 and clse > 1",
            "long_exit": "close < \u0661\u0662",
        }
    )

    response = api.post("/api/strategy", json=fields)

    assert response.status_code == 422
    assert response.json()["detail"] == (
        "refused: rules.long_entry: argument 2 of rsi (timeperiod) must be a whole "
        "number from 2 to 1000 at 1:12; unknown name 'clse' at 1:24, did you mean 'close'?; "
        "rules.long_exit: unexpected character '\u0661': numbers are written with the digits "
        "0-9 at 1:9; unexpected character '\u0662': numbers are written with the digits 0-9 "
        "at 1:10"
    )


def test_the_function_reference_lists_every_callable_name_and_only_those(
    api: httpx.Client,
) -> None:
    listed = api.get("/api/functions")

    assert listed.status_code == 200
    functions = {function["name"]: function for function in listed.json()}
    assert functions.keys() == FUNCTIONS.keys()
    for name, function in functions.items():  # each parses with what it must be given
        given = [
            str(arg["default"] or "close") if arg["kind"] == "series" else "5"
            for arg in function["arguments"]
            if arg["kind"] == "series" or arg["default"] is None
        ]
        call = f"{name}({', '.join(given)})"
        parse_rule(call if function["result"] == "condition" else f"{call} != 0", [])
    assert functions["adx"] == {
        "name": "adx",
        "group": "Momentum Indicators",
        "doc": "Average Directional Movement Index",
        "signature": "adx(high, low, close, timeperiod=14)",
        "arguments": [
            {"name": "high", "kind": "series", "default": "high", "low": None, "high": None},
            {"name": "low", "kind": "series", "default": "low", "low": None, "high": None},
            {"name": "close", "kind": "series", "default": "close", "low": None, "high": None},
            {"name": "timeperiod", "kind": "period", "default": 14.0, "low": 2.0, "high": 1000.0},
        ],
        "result": "series",
        "outputs": ["adx"],
        "ta_lib": "ADX",
        "lookback": 27,
    }
    assert functions["cdlengulfing_bullish"]["result"] == "condition"
    for name in ("stoch_slowk", "stoch_slowd"):  # each output names its siblings
        assert functions[name]["outputs"] == ["stoch_slowk", "stoch_slowd"]
    assert functions["bbands_middle"]["outputs"] == [
        "bbands_upper",
        "bbands_middle",
        "bbands_lower",
    ]
    for function in functions.values():
        assert function["name"] in function["outputs"]
        assert set(function["outputs"]) <= functions.keys()


def test_requests_without_a_valid_token_get_401(stack: Stack) -> None:
    anonymous = httpx.get(f"{stack.api_url}/api/strategy")
    forged = httpx.get(f"{stack.api_url}/api/strategy", headers={"Authorization": "Bearer nope"})
    # Its answer lists the club's symbols: a member's to read.
    check = httpx.post(f"{stack.api_url}/api/strategy/check", json=strategy_fields())

    assert anonymous.status_code == 401
    assert forged.status_code == 401
    assert check.status_code == 401


def test_another_users_strategy_and_backtest_answer_404(
    api: httpx.Client,
    new_client: Callable[[], httpx.Client],
    create_strategy: Callable[..., dict[str, Any]],
) -> None:
    strategy = create_strategy()
    backtest = api.post(f"/api/strategy/{strategy['id']}/backtest", json=backtest_params()).json()
    wait_for_backtest(api, backtest["id"])
    intruder = new_client()

    assert intruder.get(f"/api/strategy/{strategy['id']}").status_code == 404
    assert (
        intruder.put(f"/api/strategy/{strategy['id']}", json=strategy_fields()).status_code == 404
    )
    assert intruder.delete(f"/api/strategy/{strategy['id']}").status_code == 404
    assert (
        intruder.post(
            f"/api/strategy/{strategy['id']}/backtest", json=backtest_params()
        ).status_code
        == 404
    )
    assert intruder.get(f"/api/strategy/{strategy['id']}/backtests").status_code == 404
    assert intruder.get(f"/api/backtest/{backtest['id']}").status_code == 404
    assert intruder.delete(f"/api/backtest/{backtest['id']}").status_code == 404
    assert intruder.get("/api/strategy").json() == []
    assert api.get(f"/api/strategy/{strategy['id']}").status_code == 200


def test_whole_number_parameters_come_back_whole(api: httpx.Client) -> None:
    created = api.post(
        "/api/strategy", json=strategy_fields(parameters={"fast": 14, "slow": 30, "level": 0.5})
    ).json()

    for strategy in (created, api.get(f"/api/strategy/{created['id']}").json()):
        assert {name: type(value) for name, value in strategy["parameters"].items()} == {
            "fast": int,
            "slow": int,
            "level": float,
        }
