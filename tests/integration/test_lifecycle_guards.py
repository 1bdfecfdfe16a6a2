"""Both services' stores move a backtest only as the lifecycle table allows: each status
change is tried from every state, on a real MongoDB, and happens exactly when the table
lists the move (and the method's own narrower rule, where it has one, allows it)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping
from datetime import timedelta
from typing import Any

import pytest
from helpers import Mongo, run_with_async_database, scratch_database
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from backend.schemas import Backtest
from backend.stores.backtests import BacktestStore
from backend.stores.rankings import RankingStore
from backend.streams.progress_hub import ProgressHub
from backend_services.services.backtest.execution.records import (
    ExecutionAlreadyFinished,
    ExecutionRecords,
    RunRecord,
)
from shared.contracts.common import utc_now
from shared.contracts.executions import ExecutionReport
from shared.contracts.lifecycle import BacktestStatus, can_move
from shared.mongo import Document, sync_client

pytestmark = pytest.mark.integration

PENDING, QUEUED, RUNNING = BacktestStatus.PENDING, BacktestStatus.QUEUED, BacktestStatus.RUNNING
FAILED, CANCELLED = BacktestStatus.FAILED, BacktestStatus.CANCELLED
EXECUTION = "e1"
Move = Callable[[str], Awaitable[object]]


@pytest.fixture(scope="module")
def database_name(mongo: Mongo) -> Iterator[str]:
    with scratch_database(mongo, "lifecycle") as name:
        yield name


def _run(
    mongo: Mongo, database_name: str, body: Callable[[AsyncDatabase[Document]], Awaitable[None]]
) -> None:
    run_with_async_database(mongo.url, database_name, body)


def _backtest_document(status: BacktestStatus) -> Document:
    now = utc_now()
    return {
        "_id": str(uuid.uuid4()),
        "user_id": "u1",
        "strategy_id": "s1",
        "status": status.value,
        "progress": 0.0,
        "params": {"start_date": "2005-01-01T00:00:00Z", "end_date": "2006-01-01T00:00:00Z"},
        "execution_id": None if status is PENDING else EXECUTION,
        "result": None,
        "error": None,
        "created_at": now,
        "updated_at": now,
    }


def _backtest_moves(store: BacktestStore) -> dict[str, tuple[BacktestStatus, set[str], Move]]:
    """Each status-changing method: its target, the states it is meant for, and a call."""
    failed = ExecutionReport(execution_id=EXECUTION, backtest_id="-", status=FAILED, error="failed")
    return {
        "mark_dispatched": (QUEUED, {"pending"}, lambda i: store.mark_dispatched(i, EXECUTION)),
        "record_final": (
            FAILED,
            {s.value for s in BacktestStatus},
            lambda i: store.record_final(failed.model_copy(update={"backtest_id": i})),
        ),
        "cancel_pending": (CANCELLED, {"pending"}, store.cancel_pending),
        "fail_pending": (FAILED, {"pending"}, lambda i: store.fail_pending(i, "refused")),
        "redispatch": (
            PENDING,
            {"queued", "running"},
            lambda i: store.redispatch(i, EXECUTION, "lost"),
        ),
    }


@pytest.mark.parametrize("source", list(BacktestStatus))
def test_the_apis_store_moves_a_backtest_only_as_the_table_allows(
    mongo: Mongo, database_name: str, source: BacktestStatus
) -> None:
    published: list[Backtest] = []

    class FinalsHeard(ProgressHub):
        def publish_final(
            self, backtest: Backtest, statistics: Mapping[str, Any] | None = None
        ) -> None:
            published.append(backtest)

    async def body(database: AsyncDatabase[Document]) -> None:
        collection = database["backtests"]
        store = BacktestStore(collection, RankingStore(database["rankings"]), FinalsHeard())
        await _try_each_move(collection, _backtest_moves(store), source, _backtest_document)

    _run(mongo, database_name, body)
    assert all(backtest.status.is_final for backtest in published)
    assert not (source.is_final and published), "a final backtest is never published again"


def _execution_document(status: BacktestStatus, heartbeat_age_s: float = 60.0) -> Document:
    return {
        "_id": str(uuid.uuid4()),
        "backtest_id": str(uuid.uuid4()),
        "user_id": "u1",
        "strategy_id": "s1",
        "status": status.value,
        "progress": 0.0,
        "attempts": 1,
        "run_id": "r1",
        "request": {"priority": 5, "backtest_id": "b"},
        "created_at": utc_now(),
        "heartbeat_at": utc_now() - timedelta(seconds=heartbeat_age_s),
        "end_time": None,
    }


@pytest.mark.parametrize("source", [s for s in BacktestStatus if s is not PENDING])
def test_the_compute_services_records_move_an_execution_only_as_the_table_allows(
    mongo: Mongo, database_name: str, source: BacktestStatus
) -> None:
    async def body(database: AsyncDatabase[Document]) -> None:
        collection = database["executions"]
        records = ExecutionRecords(collection)

        async def cancel(execution_id: str) -> None:
            try:
                await records.cancel(execution_id)
            except ExecutionAlreadyFinished:
                assert source.is_final

        async def requeue(execution_id: str) -> None:
            await records.requeue(execution_id, utc_now() - timedelta(seconds=1))

        moves: dict[str, tuple[BacktestStatus, set[str], Move]] = {
            "cancel": (CANCELLED, {"queued", "running"}, cancel),
            "requeue": (QUEUED, {"running"}, requeue),
        }
        await _try_each_move(collection, moves, source, _execution_document)

    _run(mongo, database_name, body)

    client = sync_client(mongo.url)
    executions = client[database_name]["executions"]
    try:
        document = _execution_document(source)
        executions.insert_one(document)
        claim = RunRecord.claim(executions, document["_id"], "w", utc_now() - timedelta(seconds=1))
        assert (claim is not None) == (source in (QUEUED, RUNNING))

        document = _execution_document(source)
        executions.insert_one(document)
        RunRecord(executions, document["_id"], "r1").fail("it failed")
        stored = executions.find_one({"_id": document["_id"]})
        assert stored is not None
        assert stored["status"] == (FAILED if source is RUNNING else source).value
    finally:
        client.close()


async def _try_each_move(
    collection: AsyncCollection[Document],
    moves: dict[str, tuple[BacktestStatus, set[str], Move]],
    source: BacktestStatus,
    document_in: Callable[[BacktestStatus], Document],
) -> None:
    """Each move, tried on a record of its own in `source`: it lands exactly when the
    table allows it and the move is meant for that state."""
    for name, (target, meant_for, move) in moves.items():
        document = document_in(source)
        await collection.insert_one(document)
        await move(document["_id"])
        stored = await collection.find_one({"_id": document["_id"]})
        assert stored is not None
        expected = target if can_move(source, target) and source in meant_for else source
        assert stored["status"] == expected.value, f"{name} from {source.value}"
