"""The nonces of signed requests accepted while their signatures are fresh: a request
whose nonce is here again is a replay."""

from __future__ import annotations

import time
from collections import OrderedDict

__all__ = ["SeenNonces"]


class SeenNonces:
    """Nonces with the time their signature goes stale, oldest first: a signed request
    is at most a few seconds old when it arrives, so expiry follows arrival order
    closely enough that pruning from the front keeps the map to the fresh ones.

    Held by the process that checks them: one instance of each service receives its
    signed calls (the backend's callback, the compute service's API), so a replay to
    that instance is refused wherever it comes from."""

    def __init__(self) -> None:
        self._expiry: OrderedDict[str, float] = OrderedDict()

    def first_use(self, nonce: str, stale_at: float) -> bool:
        """Record `nonce` until `stale_at` (unix seconds); False if already recorded."""
        self._forget_stale(time.time())
        if nonce in self._expiry:
            return False
        self._expiry[nonce] = stale_at
        return True

    def __len__(self) -> int:
        return len(self._expiry)

    def _forget_stale(self, now: float) -> None:
        while self._expiry:
            nonce, stale_at = next(iter(self._expiry.items()))
            if stale_at > now:
                return
            del self._expiry[nonce]
