"""The nonces of signed requests accepted while their signatures are fresh, kept in
MongoDB: a request whose nonce is there already is a replay, however often the service
that received it first has restarted since, and whichever instance of it receives it.

One insert per signed call, `_id` the nonce: the insert is the check (a duplicate key is
the replay), so two copies of one request racing each other cannot both pass. A TTL
index removes each nonce once its signature is stale; by then the signature's age alone
refuses the request.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError
from starlette.types import Scope

from shared.mongo import Document

__all__ = ["NONCES_STATE_KEY", "ensure_nonce_index", "first_use", "nonces_of"]

# Each service's lifespan state holds, under this key, the collection its nonces are kept
# in (a collection of its own: each service writes its own).
NONCES_STATE_KEY = "signed_nonces"


def nonces_of(scope: Scope) -> AsyncCollection[Document]:
    """Where the service answering `scope` keeps its nonces."""
    nonces: AsyncCollection[Document] = scope["state"][NONCES_STATE_KEY]
    return nonces


async def ensure_nonce_index(nonces: AsyncCollection[Document]) -> None:
    """Forget each nonce once its signature is stale (MongoDB's TTL monitor, every 60 s)."""
    await nonces.create_index("stale_at", expireAfterSeconds=0)


async def first_use(nonces: AsyncCollection[Document], nonce: str, stale_at_s: int) -> bool:
    """Record `nonce` until `stale_at_s` (unix seconds); False if it is recorded already."""
    stale_at = datetime.fromtimestamp(stale_at_s, UTC)
    try:
        await nonces.insert_one({"_id": nonce, "stale_at": stale_at})
    except DuplicateKeyError:
        return False
    return True
