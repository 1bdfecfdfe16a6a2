"""How both services connect to MongoDB: one client per process, UTC-aware datetimes."""

from __future__ import annotations

from typing import Any

from pymongo import AsyncMongoClient, MongoClient
from pymongo.errors import OperationFailure

__all__ = ["Document", "async_client", "out_of_disk_space", "sync_client"]

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


# MongoDB's OutOfDiskSpace.
_DISK_FULL_CODES = frozenset({14031})
# Servers without that code (the embedded one among them) say it only in words.
_DISK_FULL_WORDS = ("disk is full", "no space left on device", "out of disk space")


def out_of_disk_space(error: OperationFailure) -> bool:
    """Whether MongoDB refused a write for want of disk space."""
    message = str(error.details.get("errmsg", "") if error.details else error).lower()
    return error.code in _DISK_FULL_CODES or any(words in message for words in _DISK_FULL_WORDS)
