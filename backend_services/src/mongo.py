"""How both services connect to MongoDB: one client per process, UTC-aware datetimes."""

from __future__ import annotations

from typing import Any

from pymongo import AsyncMongoClient, MongoClient

SERVER_SELECTION_TIMEOUT_MS = 5_000


def async_client(url: str) -> AsyncMongoClient[dict[str, Any]]:
    """The client an event loop uses; open it in the app's lifespan and close it there."""
    return AsyncMongoClient(
        url, tz_aware=True, serverSelectionTimeoutMS=SERVER_SELECTION_TIMEOUT_MS
    )


def sync_client(url: str) -> MongoClient[dict[str, Any]]:
    """The client a worker process or a command uses: no event loop there."""
    return MongoClient(url, tz_aware=True, serverSelectionTimeoutMS=SERVER_SELECTION_TIMEOUT_MS)
