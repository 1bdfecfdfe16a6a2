"""Hostile values a member may send: names that hide what they say (control and
direction-reversing characters), capital no account holds; refused with 422, in words,
never a library's own text, a regular expression or a Python repr."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from helpers import backtest_params, strategy_fields
from pymongo.database import Database

from backend.stores.users import USERS_COLLECTION, ensure_user
from shared.mongo import Document

pytestmark = pytest.mark.integration

HIDING_NAMES = {
    "NUL": "ali\x00ce",
    "a line break": "alice\nbob",
    "an escape": "\x1b[31malice",
    "right-to-left override": "alice\u202etxt.exe",
    "left-to-right isolate": "\u2066alice",
}


def _assert_in_words(response: httpx.Response) -> None:
    """An error a person can read: no library's internals, no pattern, no repr."""
    body = response.text
    assert "pydantic" not in body
    assert "^" not in body
    assert "$" not in body
    assert "Value error" not in body
    assert "{'" not in body


@pytest.mark.parametrize("hiding", HIDING_NAMES)
def test_names_with_control_or_direction_characters_are_refused_in_words(
    api: httpx.Client, create_strategy: Callable[..., dict[str, Any]], hiding: str
) -> None:
    name = HIDING_NAMES[hiding]
    strategy = create_strategy()
    attempts = {
        "new strategy": api.post("/api/strategy", json=strategy_fields(name=name)),
        "renamed strategy": api.put(
            f"/api/strategy/{strategy['id']}", json=strategy_fields(name=name)
        ),
        "new token": api.post("/api/tokens", json={"name": name}),
        "sign-in": api.post("/api/session", json={"name": name, "password": "whatever1"}),
    }

    for attempt, response in attempts.items():
        assert response.status_code == 422, (attempt, response.text)
        assert response.json()["errors"][0]["loc"][-1] == "name", attempt
        assert response.json()["detail"].startswith("refused: name: a name cannot contain")
        _assert_in_words(response)


def test_a_blank_name_is_refused(api: httpx.Client) -> None:
    response = api.post("/api/strategy", json=strategy_fields(name="   "))

    assert response.status_code == 422
    assert response.json()["detail"] == "refused: name: a name cannot be blank"


def test_ordinary_names_in_any_script_are_kept(api: httpx.Client) -> None:
    for name in ("SMA 10/30 \u2013 \u00dcn\u00efcode", "移動平均", "متوسط"):
        response = api.post("/api/strategy", json=strategy_fields(name=name))
        assert response.status_code == 201, response.text
        assert response.json()["name"] == name


@pytest.mark.parametrize("hiding", HIDING_NAMES)
def test_a_command_cannot_create_a_member_with_a_hiding_name(
    db: Database[Document], hiding: str
) -> None:
    with pytest.raises(ValueError, match="a name cannot contain"):
        ensure_user(db[USERS_COLLECTION], HIDING_NAMES[hiding])

    assert db[USERS_COLLECTION].find_one({"name": HIDING_NAMES[hiding]}) is None


@pytest.mark.parametrize("capital", [5e-324, 1e-9, 0.5, 0, -1, 1e12 * 1.5])
def test_capital_outside_its_bounds_is_refused_in_words(
    api: httpx.Client, create_strategy: Callable[..., dict[str, Any]], capital: float
) -> None:
    strategy = create_strategy()

    response = api.post(
        f"/api/strategy/{strategy['id']}/backtest", json=backtest_params(initial_capital=capital)
    )

    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "initial_capital"]
    _assert_in_words(response)


def test_capital_at_its_bounds_is_accepted(
    api: httpx.Client, create_strategy: Callable[..., dict[str, Any]]
) -> None:
    strategy = create_strategy()

    for capital in (1, 1e12):
        response = api.post(
            f"/api/strategy/{strategy['id']}/backtest",
            json=backtest_params(initial_capital=capital),
        )
        assert response.status_code == 202, response.text


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/strategy", strategy_fields(symbol="GO OG")),
        ("/api/strategy", strategy_fields(parameters={"Fast Period": 10})),
        ("/api/strategy", strategy_fields(rules={"long_entry": "close >"})),
        ("/api/tokens", {"name": "x", "expires_in_days": "soon"}),
    ],
)
def test_refusals_never_show_a_pattern_or_a_library_prefix(
    api: httpx.Client, path: str, body: dict[str, Any]
) -> None:
    response = api.post(path, json=body)

    assert response.status_code == 422
    _assert_in_words(response)
