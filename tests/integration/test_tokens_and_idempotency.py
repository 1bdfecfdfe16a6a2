"""A member's tokens (several at once, expiring, revocable) and Idempotency-Key: a POST
repeated with the same key is carried out once."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from helpers import Stack, backtest_params, strategy_fields
from pymongo.database import Database

from backend.stores.tokens import TOKENS_COLLECTION, issue_token
from backend.stores.users import USERS_COLLECTION
from shared.mongo import Document

pytestmark = pytest.mark.integration


def _as(stack: Stack, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=stack.api_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )


def test_a_new_token_keeps_the_others_and_a_revoked_one_stops_at_once(
    stack: Stack, db: Database[Document]
) -> None:
    _, first = issue_token(db[USERS_COLLECTION], f"holder-{uuid.uuid4().hex[:8]}")
    with _as(stack, first) as api:
        created = api.post("/api/tokens", json={"name": "laptop", "expires_in_days": 30})
        assert created.status_code == 201
        second = created.json()
        assert second["expires_at"] is not None

        with _as(stack, second["token"]) as laptop:
            assert laptop.get("/api/strategy").status_code == 200
        assert api.get("/api/strategy").status_code == 200  # the first one still works

        listed = api.get("/api/tokens").json()
        assert [token["name"] for token in listed] == ["issued by botclub", "laptop"]
        assert all("token" not in token and "token_hash" not in token for token in listed)

        revoked = api.delete(f"/api/tokens/{second['id']}")
        assert revoked.status_code == 200
        assert revoked.json()["revoked_at"] is not None
    with _as(stack, second["token"]) as laptop:
        assert laptop.get("/api/strategy").status_code == 401
    with _as(stack, first) as api:
        assert api.get("/api/strategy").status_code == 200


def test_an_expired_token_is_refused(stack: Stack, db: Database[Document]) -> None:
    _, token = issue_token(
        db[USERS_COLLECTION], f"brief-{uuid.uuid4().hex[:8]}", lifetime=timedelta(seconds=2)
    )
    with _as(stack, token) as api:
        assert api.get("/api/strategy").status_code == 200
    time.sleep(2.5)

    with _as(stack, token) as api:
        refused = api.get("/api/strategy")
    assert refused.status_code == 401
    assert "expired" in refused.json()["detail"]
    (document,) = db[TOKENS_COLLECTION].find({"user_name": {"$regex": "^brief-"}})
    assert document["expires_at"] is not None


def test_another_members_token_cannot_be_revoked(
    api: httpx.Client, new_client: Callable[[], httpx.Client]
) -> None:
    mine = api.post("/api/tokens", json={"name": "mine"}).json()

    assert new_client().delete(f"/api/tokens/{mine['id']}").status_code == 404


def test_the_same_key_and_body_give_the_first_answer_once(
    api: httpx.Client, create_strategy: Callable[..., dict[str, Any]]
) -> None:
    strategy = create_strategy()
    key = {"Idempotency-Key": uuid.uuid4().hex}
    params = backtest_params()

    first = api.post(f"/api/strategy/{strategy['id']}/backtest", json=params, headers=key)
    again = api.post(f"/api/strategy/{strategy['id']}/backtest", json=params, headers=key)

    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(api.get(f"/api/strategy/{strategy['id']}/backtests").json()) == 1


def test_the_same_key_with_another_body_is_409(api: httpx.Client) -> None:
    key = {"Idempotency-Key": uuid.uuid4().hex}

    first = api.post("/api/strategy", json=strategy_fields(name="one"), headers=key)
    other = api.post("/api/strategy", json=strategy_fields(name="two"), headers=key)

    assert first.status_code == 201
    assert other.status_code == 409
    assert [s["name"] for s in api.get("/api/strategy").json()] == ["one"]


def test_keys_belong_to_their_credentials(
    api: httpx.Client, new_client: Callable[[], httpx.Client]
) -> None:
    key = {"Idempotency-Key": uuid.uuid4().hex}
    other = new_client()

    mine = api.post("/api/strategy", json=strategy_fields(name="mine"), headers=key)
    theirs = other.post("/api/strategy", json=strategy_fields(name="mine"), headers=key)

    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["id"] != theirs.json()["id"]


def test_a_malformed_key_is_422(api: httpx.Client) -> None:
    response = api.post(
        "/api/strategy", json=strategy_fields(), headers={"Idempotency-Key": "x" * 300}
    )

    assert response.status_code == 422
