"""The MongoDB checks both services' dependency monitors run."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure

from shared.mongo import Document
from shared.web.health_monitor import DependencyDown

__all__ = ["ping_check", "write_check"]


def ping_check(database: AsyncDatabase[Document]) -> Callable[[], Awaitable[Any]]:
    """MongoDB answers."""

    async def check() -> Any:
        return await database.command("ping")

    return check


def write_check(collection: AsyncCollection[Document]) -> Callable[[], Awaitable[None]]:
    """A health check that MongoDB still takes writes (a full disk refuses them): one
    small document, rewritten. Each service probes a collection of its own."""

    async def check() -> None:
        try:
            await collection.update_one(
                {"_id": "probe"}, {"$set": {"at": datetime.now(UTC)}}, upsert=True
            )
        except OperationFailure as refused:  # an answer: it cannot write
            raise DependencyDown(f"MongoDB refuses writes: {refused}") from refused

    return check
