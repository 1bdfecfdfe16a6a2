"""How both services connect to MongoDB: one client per process, UTC-aware datetimes."""

from __future__ import annotations

from typing import Any

from pymongo import AsyncMongoClient, MongoClient

__all__ = ["Document", "async_client", "sync_client"]

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
