"""Who a token belongs to, remembered for a few seconds.

Every request a member makes presents a token, and reading it from MongoDB each time
was the largest share of the API's round trips (a backtest and the stream that follows
it read it twice). The cache keeps each valid token's member for `ttl_s` seconds (never
past the token's own expiry); a revocation through this process forgets the token at
once, one through another API process takes effect within `ttl_s`.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

from backend.stores.users import User
from shared.contracts.common import as_utc, utc_now

__all__ = ["TOKEN_CACHE_TTL_S", "TokenCache"]

TOKEN_CACHE_TTL_S = 5.0
MAX_CACHED_TOKENS = 10_000


@dataclass(frozen=True, slots=True)
class _Entry:
    token_id: str
    user: User
    expires_at: datetime | None
    fresh_until: float


class TokenCache:
    def __init__(self, ttl_s: float = TOKEN_CACHE_TTL_S) -> None:
        self._ttl_s = ttl_s
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    def get(self, token_hash: str) -> User | None:
        """The member of a token seen valid less than `ttl_s` ago, unless it expired."""
        entry = self._entries.get(token_hash)
        if entry is None:
            return None
        if time.monotonic() >= entry.fresh_until or (
            entry.expires_at is not None and as_utc(entry.expires_at) <= utc_now()
        ):
            del self._entries[token_hash]
            return None
        return entry.user

    def put(self, token_hash: str, token_id: str, user: User, expires_at: datetime | None) -> None:
        fresh_until = time.monotonic() + self._ttl_s
        self._entries[token_hash] = _Entry(token_id, user, expires_at, fresh_until)
        self._entries.move_to_end(token_hash)
        if len(self._entries) > MAX_CACHED_TOKENS:
            self._entries.popitem(last=False)

    def forget(self, *, token_hash: str | None = None, token_id: str | None = None) -> None:
        """Drop a revoked token, named by its hash or its id."""
        if token_hash is not None:
            self._entries.pop(token_hash, None)
        if token_id is not None:
            for key in [k for k, entry in self._entries.items() if entry.token_id == token_id]:
                del self._entries[key]
