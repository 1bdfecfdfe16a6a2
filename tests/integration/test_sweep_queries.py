"""The slow sweeps' questions to MongoDB, answered right on a real server: which
backtests wait too long to be handed over or to be heard of (oldest first, at most the
limit asked), which runs' heartbeats stopped, which final states await delivery."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from helpers import Mongo, run_with_async_database, scratch_database
from pymongo.asynchronous.database import AsyncDatabase

from backend.stores.backtests import BacktestStore
from backend.stores.rankings import RankingStore
from backend_services.services.backtest.execution.records import ExecutionRecords
from shared.contracts.common import utc_now
from shared.mongo import Document

pytestmark = pytest.mark.integration

NOW = utc_now()
CUTOFF = NOW - timedelta(seconds=60)


@pytest.fixture
def database_name(mongo: Mongo) -> Iterator[str]:
    with scratch_database(mongo, "sweeps") as name:
        yield name


def _backtest(status: str, age_s: float) -> Document:
    return {
        "_id": f"{status}-{age_s:g}",
        "status": status,
        "execution_id": None if status == "pending" else f"e-{status}-{age_s:g}",
        "updated_at": NOW - timedelta(seconds=age_s),
    }


def test_the_supervisor_finds_what_waits_too_long_oldest_first(
    mongo: Mongo, database_name: str
) -> None:
    ages = (10, 90, 300, 120)
    documents = [
        _backtest(status, age)
        for status in ("pending", "queued", "running", "completed", "failed")
        for age in ages
    ]

    async def body(database: AsyncDatabase[Document]) -> None:
        collection = database["backtests"]
        await collection.insert_many(documents)
        # Rewritten as stores write it (the embedded server keeps a time `$set` as text).
        rewritten = _backtest("pending", 300)
        await collection.update_one(
            {"_id": rewritten["_id"]}, {"$set": {"updated_at": rewritten["updated_at"]}}
        )
        store = BacktestStore(collection, RankingStore(database["rankings"]))

        assert await store.stale_pending(CUTOFF, 10) == ["pending-300", "pending-120", "pending-90"]
        assert await store.stale_pending(CUTOFF, 2) == ["pending-300", "pending-120"]
        live = await store.stale_live(CUTOFF, 4)
        assert live == [
            ("queued-300", "e-queued-300"),
            ("running-300", "e-running-300"),
            ("queued-120", "e-queued-120"),
            ("running-120", "e-running-120"),
        ]

    run_with_async_database(mongo.url, database_name, body)


def test_the_compute_service_finds_stopped_heartbeats_and_undelivered_final_states(
    mongo: Mongo, database_name: str
) -> None:
    def execution(status: str, **fields: object) -> Document:
        return {
            "_id": str(uuid.uuid4()),
            "backtest_id": str(uuid.uuid4()),
            "status": status,
            "attempts": 1,
            "heartbeat_at": None,
            "delivered_at": None,
            "delivery_refused": None,
        } | fields

    stopped = execution("running", heartbeat_at=NOW - timedelta(seconds=120))
    beating = execution("running", heartbeat_at=NOW)
    awaiting = execution("completed")
    refused = execution("failed", delivery_refused="404")
    delivered = execution("completed", delivered_at=NOW)
    queued = execution("queued")

    async def body(database: AsyncDatabase[Document]) -> None:
        records = ExecutionRecords(database["executions"])
        await records.ensure_indexes()
        await database["executions"].insert_many(
            [stopped, beating, awaiting, refused, delivered, queued]
        )
        for beat in (stopped, beating):  # as a heartbeat writes it
            await database["executions"].update_one(
                {"_id": beat["_id"]}, {"$set": {"heartbeat_at": beat["heartbeat_at"]}}
            )

        assert await records.stale_running(CUTOFF) == [(stopped["_id"], 1)]
        assert await records.undelivered_ids(include_refused=False) == [awaiting["_id"]]
        assert sorted(await records.undelivered_ids(include_refused=True)) == sorted(
            [awaiting["_id"], refused["_id"]]
        )

    run_with_async_database(mongo.url, database_name, body)
