"""A worker's acknowledged deliveries are noted on their execution records together:
one command for all that came within a fraction of a second, each record with its own
time. On a real MongoDB."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from helpers import Mongo, scratch_database
from pymongo import MongoClient, monitoring
from pymongo.collection import Collection

from backend_services.services.backtest.execution.delivered_marks import DeliveredMarks
from shared.contracts.common import utc_now
from shared.mongo import Document, stored_time

pytestmark = pytest.mark.integration

EVERY_S = 0.3


class _Updates(monitoring.CommandListener):
    def __init__(self) -> None:
        self.sent = 0

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name == "update":
            self.sent += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@pytest.fixture
def executions(mongo: Mongo) -> Iterator[tuple[Collection[Document], _Updates]]:
    updates = _Updates()
    with scratch_database(mongo, "marks") as name:
        client: MongoClient[Document] = MongoClient(
            mongo.url, tz_aware=True, event_listeners=[updates]
        )
        collection = client[name]["executions"]
        collection.insert_many([{"_id": f"e{number}", "delivered_at": None} for number in range(5)])
        yield collection, updates
        client.close()


def test_acknowledgements_close_together_are_noted_by_one_command(
    executions: tuple[Collection[Document], _Updates],
) -> None:
    collection, updates = executions
    marks = DeliveredMarks(collection, every_s=EVERY_S)
    first = utc_now().replace(microsecond=0)  # as MongoDB keeps times: to the millisecond
    noted = {f"e{number}": first + timedelta(milliseconds=number) for number in range(4)}

    for execution_id, at in noted.items():
        marks.note(execution_id, at)
    time.sleep(EVERY_S / 3)
    assert updates.sent == 0  # waiting for the others
    deadline = time.monotonic() + 10
    while updates.sent == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.1)

    assert updates.sent == 1
    stored = {document["_id"]: document for document in collection.find()}
    for execution_id, at in noted.items():
        assert stored_time(stored[execution_id]["delivered_at"]) == at
        assert stored_time(stored[execution_id]["stages"]["delivered"]) == at
    assert stored["e4"]["delivered_at"] is None


def test_a_full_batch_is_written_at_once(
    executions: tuple[Collection[Document], _Updates],
) -> None:
    collection, updates = executions
    marks = DeliveredMarks(collection, every_s=60.0, most_at_once=3)

    for number in range(3):
        marks.note(f"e{number}", utc_now())
    deadline = time.monotonic() + 10
    while updates.sent == 0:
        assert time.monotonic() < deadline, "a full batch waited for its time"
        time.sleep(0.02)
    time.sleep(0.1)

    assert updates.sent == 1
    undelivered = [d["_id"] for d in collection.find() if d["delivered_at"] is None]
    assert sorted(undelivered) == ["e3", "e4"]
