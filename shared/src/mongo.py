"""How both services connect to MongoDB: one client per process, UTC-aware datetimes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from pymongo import AsyncMongoClient, MongoClient
from pymongo.asynchronous.collection import AsyncCollection

__all__ = ["Document", "async_client", "sync_client", "write_check"]

SERVER_SELECTION_TIMEOUT_MS = 5_000
# A MongoDB document as pymongo hands it over; repositories turn it into models at once.
Document = dict[str, Any]


def async_client(url: str) -> AsyncMongoClient[Document]:
    """The client an event loop uses; open it in the app's lifespan and close it there."""
    return AsyncMongoClient(
        url, tz_aware=True, serverSelectionTimeoutMS=SERVER_SELECTION_TIMEOUT_MS
    )


def sync_client(url: str) -> MongoClient[Document]:
    """The client a worker process or a command uses: no event loop there."""
    return MongoClient(url, tz_aware=True, serverSelectionTimeoutMS=SERVER_SELECTION_TIMEOUT_MS)


def write_check(collection: AsyncCollection[Document]) -> Callable[[], Awaitable[None]]:
    """A health check that MongoDB still takes writes (a full disk refuses them): one
    small document, rewritten. Each service probes a collection of its own."""

    async def check() -> None:
        await collection.update_one(
            {"_id": "probe"}, {"$set": {"at": datetime.now(UTC)}}, upsert=True
        )

    return check
