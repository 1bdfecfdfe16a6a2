"""Results are stored packed (one compressed JSON value) by both services and read back
equal; a result stored before, as a tree of fields or packed with zlib, still reads;
statistics are kept
beside the packed result for lists; a reused result is the earlier one's, marked
cached. On a real MongoDB."""

from __future__ import annotations

import json
import uuid
import zlib
from collections.abc import Awaitable, Callable, Iterator, Mapping
from datetime import datetime
from typing import Any

import pytest
from bson import Binary
from helpers import Mongo, minute_walk, run_with_async_database, scratch_database
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from backend.schemas import Backtest
from backend.stores.backtests import BacktestStore
from backend.stores.rankings import RankingStore
from backend.streams.progress_hub import HEADLINE_STATISTICS, ProgressHub, event_of
from backend_services.services.backtest.backtest_engine import BacktestEngine
from backend_services.services.backtest.execution.records import ExecutionRecords, RunRecord
from shared.contracts.backtests import BacktestParams, ResolvedBacktest
from shared.contracts.common import utc_now
from shared.contracts.executions import ExecutionReport, PackedResult
from shared.contracts.lifecycle import BacktestStatus
from shared.contracts.results import BacktestResult, BacktestStatistics
from shared.contracts.strategies import Costs, StrategySnapshot
from shared.mongo import Document, sync_client
from shared.packed import packed_json

pytestmark = pytest.mark.integration

STRATEGY = StrategySnapshot(
    id="s1", name="x", symbol="X", timeframe="1m", costs=Costs(commission_pct=0.001)
)
PARAMS = BacktestParams(start_date=datetime(2020, 1, 1), end_date=datetime(2030, 1, 1))


@pytest.fixture(scope="module")
def database_name(mongo: Mongo) -> Iterator[str]:
    with scratch_database(mongo, "packed") as name:
        yield name


@pytest.fixture(scope="module")
def result() -> BacktestResult:
    backtest = ResolvedBacktest.resolve(STRATEGY, PARAMS)
    return BacktestEngine().run(minute_walk(3_000, seed=11), backtest, "s1").result


def _completed(backtest_id: str, result: BacktestResult) -> ExecutionReport:
    return ExecutionReport(
        execution_id=f"e-{backtest_id}",
        backtest_id=backtest_id,
        status=BacktestStatus.COMPLETED,
        end_time=utc_now(),
        result=result,
    )


# (the backtests collection, its store, a pending backtest just created in it)
StoreCheck = Callable[[AsyncCollection[Document], BacktestStore, Backtest], Awaitable[None]]


def _with_a_pending_backtest(mongo: Mongo, database_name: str, check: StoreCheck) -> None:
    async def body(database: AsyncDatabase[Document]) -> None:
        collection = database["backtests"]
        store = BacktestStore(collection, RankingStore(database["rankings"]))
        created = await store.create("u1", STRATEGY, PARAMS, uuid.uuid4().hex, data_version=1)
        await check(collection, store, created)

    run_with_async_database(mongo.url, database_name, body)


async def _reused(
    collection: AsyncCollection[Document], store: BacktestStore, earlier: Backtest
) -> Backtest:
    """A backtest with the same inputs as `earlier`, answered from its result."""
    document = await collection.find_one({"_id": earlier.id}, {"input_key": 1})
    assert document is not None
    return await store.create("u1", STRATEGY, PARAMS, document["input_key"], data_version=1)


def test_the_apis_store_packs_a_result_and_reads_it_back_equal(
    mongo: Mongo, database_name: str, result: BacktestResult
) -> None:
    async def check(
        collection: AsyncCollection[Document], store: BacktestStore, created: Backtest
    ) -> None:
        assert await store.record_final(_completed(created.id, result)) is not None

        stored = await collection.find_one({"_id": created.id})
        assert stored is not None
        assert isinstance(stored["result"], bytes)
        assert len(stored["result"]) < len(result.model_dump_json()) / 2
        statistics = result.model_dump(include=set(BacktestStatistics.model_fields))
        assert stored["statistics"] == statistics
        read = await store.get("u1", created.id)
        assert read is not None
        assert read.result == result

        reused = await _reused(collection, store, created)
        assert reused.status is BacktestStatus.COMPLETED
        assert reused.result == result.model_copy(update={"cached": True})
        again = await store.get("u1", reused.id)
        assert again is not None
        assert again.result == reused.result

    _with_a_pending_backtest(mongo, database_name, check)


def test_a_result_reported_packed_is_stored_as_it_arrived(
    mongo: Mongo, database_name: str, result: BacktestResult
) -> None:
    """A worker reports its result packed: the API stores that value, unopened, and
    tells its subscribers the statistics that came with it."""
    packed = PackedResult.of(result)
    wire = ExecutionReport(
        execution_id="e-packed",
        backtest_id="-",
        status=BacktestStatus.COMPLETED,
        end_time=utc_now(),
        packed_result=packed,
    ).model_dump_json()
    finals: list[dict[str, Any] | None] = []

    class FinalsHeard(ProgressHub):
        def publish_final(
            self, backtest: Backtest, statistics: Mapping[str, Any] | None = None
        ) -> None:
            finals.append(event_of(backtest, statistics).statistics)

    async def body(database: AsyncDatabase[Document]) -> None:
        collection = database["backtests"]
        store = BacktestStore(collection, RankingStore(database["rankings"]), FinalsHeard())
        created = await store.create("u1", STRATEGY, PARAMS, uuid.uuid4().hex, data_version=1)
        report = ExecutionReport.model_validate_json(
            wire.replace('"backtest_id":"-"', f'"backtest_id":"{created.id}"')
        )
        assert await store.record_final(report) is not None

        stored = await collection.find_one({"_id": created.id})
        assert stored is not None
        assert stored["result"] == packed.packed
        assert stored["statistics"] == result.statistics().model_dump()
        read = await store.get("u1", created.id)
        assert read is not None
        assert read.result == result

    run_with_async_database(mongo.url, database_name, body)
    assert finals == [{name: getattr(result, name) for name in HEADLINE_STATISTICS}]


@pytest.mark.parametrize("form", ["fields", "zlib"])
def test_a_result_stored_in_an_earlier_form_still_reads(
    mongo: Mongo, database_name: str, result: BacktestResult, form: str
) -> None:
    earlier = {
        "fields": result.model_dump(),
        "zlib": Binary(zlib.compress(result.model_dump_json().encode(), 1)),
    }[form]

    async def check(
        collection: AsyncCollection[Document], store: BacktestStore, created: Backtest
    ) -> None:
        await collection.update_one(
            {"_id": created.id}, {"$set": {"status": "completed", "result": earlier}}
        )
        read = await store.get("u1", created.id)
        assert read is not None
        assert read.result == result
        reused = await _reused(collection, store, created)
        assert reused.result == result.model_copy(update={"cached": True})

    _with_a_pending_backtest(mongo, database_name, check)


def test_the_compute_services_record_packs_a_result_and_reads_it_back_equal(
    mongo: Mongo, database_name: str, result: BacktestResult
) -> None:
    executions = sync_client(mongo.url)[database_name]["executions"]
    execution_id = str(uuid.uuid4())
    executions.insert_one(
        {
            "_id": execution_id,
            "backtest_id": str(uuid.uuid4()),
            "user_id": "u1",
            "strategy_id": "s1",
            "status": "running",
            "progress": 10.0,
            "attempts": 1,
            "run_id": "r1",
            "created_at": utc_now(),
            "heartbeat_at": utc_now(),
        }
    )
    packed = PackedResult.of(result)
    assert RunRecord(executions, execution_id, "r1").complete(packed, None, {}) is not None
    stored = executions.find_one({"_id": execution_id})
    assert stored is not None
    assert isinstance(stored["result"], bytes)
    assert stored["result"] == packed.packed  # as reported to the API
    assert BacktestResult.model_validate_json(packed_json(stored["result"])) == result

    async def body(database: AsyncDatabase[Document]) -> None:
        records = ExecutionRecords(database["executions"])
        execution = await records.get(execution_id)
        assert execution.result == result
        run_id, inline = await records.completed_run(execution_id)
        assert run_id == "r1"
        assert inline["trades"] == json.loads(result.model_dump_json())["trades"]

    run_with_async_database(mongo.url, database_name, body)


def test_a_stored_result_that_cannot_be_read_is_computed_again_not_refused(
    mongo: Mongo, database_name: str
) -> None:
    async def check(
        collection: AsyncCollection[Document], store: BacktestStore, created: Backtest
    ) -> None:
        await collection.update_one(
            {"_id": created.id},
            {"$set": {"status": "completed", "result": Binary(b"\x28\xb5\x2f\xfdgarbage")}},
        )

        again = await _reused(collection, store, created)

        assert again.status is BacktestStatus.PENDING  # to be computed, not a 500
        assert again.result is None

    _with_a_pending_backtest(mongo, database_name, check)
