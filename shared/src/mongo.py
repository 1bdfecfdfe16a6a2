"""How both services connect to MongoDB: one client per process, UTC-aware datetimes,
every command it sends counted by name (`botclub_mongo_commands_total` at /metrics), so
round trips are measured rather than estimated."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pymongo import AsyncMongoClient, MongoClient
from pymongo.errors import OperationFailure
from pymongo.monitoring import (
    CommandFailedEvent,
    CommandListener,
    CommandStartedEvent,
    CommandSucceededEvent,
)

if TYPE_CHECKING:
    from prometheus_client.metrics import Counter

__all__ = ["Document", "async_client", "out_of_disk_space", "stored_time", "sync_client"]

SERVER_SELECTION_TIMEOUT_MS = 5_000
# A MongoDB document as pymongo hands it over; repositories turn it into models at once.
Document = dict[str, Any]


class _CommandCounter(CommandListener):
    """Counts each command as it is sent: a dictionary look-up and an increment, called
    on the thread sending it. Handshakes and the monitors' heartbeats are not commands
    to a listener, so only the clients' own round trips are counted."""

    def __init__(self) -> None:
        # Imported with the process's first client, not with this module: many modules
        # import this one before the process chooses its metrics folder
        # (`shared.metrics_dir`), which must come before prometheus_client is imported.
        from shared.metrics import MONGO_COMMANDS

        self._commands = MONGO_COMMANDS
        self._by_name: dict[str, Counter] = {}

    def started(self, event: CommandStartedEvent) -> None:
        counter = self._by_name.get(event.command_name)
        if counter is None:
            counter = self._by_name[event.command_name] = self._commands.labels(event.command_name)
        counter.inc()

    def succeeded(self, event: CommandSucceededEvent) -> None:
        pass

    def failed(self, event: CommandFailedEvent) -> None:
        pass


@functools.cache
def _commands_counted() -> _CommandCounter:
    """The one listener of every client of this process."""
    return _CommandCounter()


def async_client(url: str) -> AsyncMongoClient[Document]:
    """The client an event loop uses; open it in the app's lifespan and close it there."""
    return AsyncMongoClient(
        url,
        tz_aware=True,
        serverSelectionTimeoutMS=SERVER_SELECTION_TIMEOUT_MS,
        event_listeners=[_commands_counted()],
    )


def sync_client(url: str) -> MongoClient[Document]:
    """The client a worker process or a command uses: no event loop there."""
    return MongoClient(
        url,
        tz_aware=True,
        serverSelectionTimeoutMS=SERVER_SELECTION_TIMEOUT_MS,
        event_listeners=[_commands_counted()],
    )


# MongoDB's OutOfDiskSpace.
_DISK_FULL_CODES = frozenset({14031})
# Servers without that code (the embedded one among them) say it only in words.
_DISK_FULL_WORDS = ("disk is full", "no space left on device", "out of disk space")


def out_of_disk_space(error: OperationFailure) -> bool:
    """Whether MongoDB refused a write for want of disk space."""
    message = str(error.details.get("errmsg", "") if error.details else error).lower()
    return error.code in _DISK_FULL_CODES or any(words in message for words in _DISK_FULL_WORDS)


def stored_time(value: Any) -> datetime | None:
    """A time field as a server handed it back, as a UTC datetime; None when it is
    missing or null. MongoDB returns a datetime; the embedded server returns a time
    written by `$set` as its ISO text."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
