"""What the compute service does when a worker's run ends, on a real MongoDB: a run that
lost its execution to another run leaves that one alone, a final state its worker is
pushing waits for the next sweep, and a worker that died has its run queued again."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta

import httpx
import pytest
from helpers import Mongo
from pymongo.asynchronous.database import AsyncDatabase

from backend_services.services.backtest.backtest_service import BacktestService
from backend_services.services.backtest.execution.delivery import ResultDelivery
from backend_services.services.backtest.execution.records import ExecutionRecords
from backend_services.services.backtest.execution.scheduling import WaitingRun
from backend_services.services.backtest.execution.worker_pool import PoolState, WorkerLost
from shared.contracts.common import utc_now
from shared.contracts.lifecycle import BacktestStatus
from shared.mongo import Document, async_client, sync_client

pytestmark = pytest.mark.integration


class _Pool:
    """A pool that only records what it was given."""

    def __init__(self) -> None:
        self.submitted: list[str] = []

    def submit(self, run: WaitingRun) -> None:
        self.submitted.append(run.execution_id)

    def state(self) -> PoolState:
        return PoolState(kind="recorded", workers=1, busy=0, queued=len(self.submitted))

    async def close(self) -> None:
        return None


def _with_service(
    mongo: Mongo, body: Callable[[BacktestService, ExecutionRecords, _Pool], Awaitable[None]]
) -> None:
    name = f"{mongo.database_name}_endings_{uuid.uuid4().hex[:6]}"

    async def main() -> None:
        client = async_client(mongo.url)
        database: AsyncDatabase[Document] = client[name]
        records = ExecutionRecords(database["executions"])
        async with httpx.AsyncClient(base_url="http://127.0.0.1:9") as http:
            delivery = ResultDelivery(records, http)
            service = BacktestService(records, database["trades"], delivery, 3, 15.0)
            pool = _Pool()
            service.attach_pool(pool)
            try:
                await body(service, records, pool)
            finally:
                await delivery.close()
                await client.close()

    try:
        asyncio.run(main())
    finally:
        sync = sync_client(mongo.url)
        sync.drop_database(name)
        sync.close()


async def _insert(records: ExecutionRecords, status: BacktestStatus) -> str:
    execution_id = str(uuid.uuid4())
    await records._collection.insert_one(
        {
            "_id": execution_id,
            "backtest_id": str(uuid.uuid4()),
            "status": status.value,
            "attempts": 1,
            "run_id": "the other run",
            "heartbeat_at": utc_now() - timedelta(seconds=1),
            "request": {"priority": 5},
            "delivered_at": None,
        }
    )
    return execution_id


def test_a_run_that_lost_its_execution_to_another_leaves_that_one_alone(mongo: Mongo) -> None:
    async def body(service: BacktestService, records: ExecutionRecords, pool: _Pool) -> None:
        execution_id = await _insert(records, BacktestStatus.RUNNING)

        await service.on_run_ended(execution_id, None)

        status, attempts, _ = await records.outcome_of(execution_id)
        assert (status, attempts, pool.submitted) == (BacktestStatus.RUNNING, 1, [])

    _with_service(mongo, body)


def test_a_final_state_its_worker_is_pushing_is_not_sent_again_at_once(mongo: Mongo) -> None:
    async def body(service: BacktestService, records: ExecutionRecords, pool: _Pool) -> None:
        execution_id = await _insert(records, BacktestStatus.COMPLETED)

        await service.on_run_ended(execution_id, None)
        assert service._delivery.pending == 0

        await service.on_run_ended(execution_id, WorkerLost("its worker died"))
        assert service._delivery.pending == 1

    _with_service(mongo, body)


def test_a_run_whose_worker_died_is_queued_again(mongo: Mongo) -> None:
    async def body(service: BacktestService, records: ExecutionRecords, pool: _Pool) -> None:
        execution_id = await _insert(records, BacktestStatus.RUNNING)

        await service.on_run_ended(execution_id, WorkerLost("its worker died"))

        status, _, _ = await records.outcome_of(execution_id)
        assert (status, pool.submitted) == (BacktestStatus.QUEUED, [execution_id])

    _with_service(mongo, body)
