"""The API's token cache: a token seen valid is remembered only briefly, never past its
own expiry, and forgotten at once when revoked here."""

from __future__ import annotations

import time
from datetime import timedelta

from backend.stores.token_cache import TokenCache
from backend.stores.users import User
from shared.contracts.common import utc_now

ALICE = User(id="u1", name="alice")


def test_a_token_is_remembered_for_its_time_to_live_and_no_longer() -> None:
    cache = TokenCache(ttl_s=0.05)
    cache.put("h1", "t1", ALICE, expires_at=None)

    assert cache.get("h1") == ALICE
    time.sleep(0.06)
    assert cache.get("h1") is None


def test_a_token_is_never_remembered_past_its_own_expiry() -> None:
    cache = TokenCache(ttl_s=60)
    cache.put("h1", "t1", ALICE, expires_at=utc_now() - timedelta(seconds=1))

    assert cache.get("h1") is None


def test_a_revoked_token_is_forgotten_by_its_hash_or_its_id() -> None:
    cache = TokenCache(ttl_s=60)
    cache.put("h1", "t1", ALICE, expires_at=None)
    cache.put("h2", "t2", ALICE, expires_at=None)

    cache.forget(token_hash="h1")
    cache.forget(token_id="t2")

    assert cache.get("h1") is None
    assert cache.get("h2") is None
