"""The `executions` collection, as the event loop sees it.

An execution document holds the BacktestExecution fields (with `_id` for `id`), the
request it runs (`request`) and `delivered_at`, set once the backend has acknowledged its
final state. Every state change is a conditional update on the current status, so two
writers racing (a cancel and a completion) leave exactly one final state.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from backend_services.contracts import (
    FINAL_STATUSES,
    BacktestExecution,
    ExecutionStatus,
    RunBacktestRequest,
    utc_now,
)

EXECUTIONS_COLLECTION = "executions"
ACTIVE_STATUSES = [ExecutionStatus.QUEUED.value, ExecutionStatus.RUNNING.value]

Document = dict[str, Any]


class ExecutionNotFound(LookupError):
    pass


class ExecutionAlreadyFinished(RuntimeError):
    def __init__(self, execution: BacktestExecution) -> None:
        super().__init__(f"execution {execution.id} is already {execution.status.value}")
        self.execution = execution


class ExecutionStore:
    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self._collection = collection

    async def ensure_indexes(self) -> None:
        await self._collection.create_index("backtest_id", unique=True)
        await self._collection.create_index([("status", ASCENDING), ("delivered_at", ASCENDING)])

    async def create(self, request: RunBacktestRequest) -> tuple[BacktestExecution, bool]:
        """The execution of `request.backtest_id`, created if new; True when created."""
        document: Document = {
            "_id": str(uuid.uuid4()),
            "backtest_id": request.backtest_id,
            "user_id": request.user_id,
            "strategy_id": request.strategy.id,
            "request": request.model_dump(mode="json"),
            "status": ExecutionStatus.QUEUED.value,
            "progress": 0.0,
            "created_at": utc_now(),
            "start_time": None,
            "end_time": None,
            "attempts": 0,
            "result": None,
            "error": None,
            "delivered_at": None,
        }
        try:
            await self._collection.insert_one(document)
        except DuplicateKeyError:
            existing = await self._collection.find_one({"backtest_id": request.backtest_id})
            if existing is None:  # removed between the two calls: nothing left to reuse
                raise
            return BacktestExecution.from_document(existing), False
        return BacktestExecution.from_document(document), True

    async def get(self, execution_id: str) -> BacktestExecution:
        document = await self._collection.find_one({"_id": execution_id})
        if document is None:
            raise ExecutionNotFound(execution_id)
        return BacktestExecution.from_document(document)

    async def priority_of(self, execution_id: str) -> int:
        document = await self._collection.find_one({"_id": execution_id}, {"request.priority": 1})
        return int(document["request"]["priority"]) if document else 0

    async def cancel(self, execution_id: str) -> BacktestExecution:
        """Move a queued or running execution to cancelled; the worker notices and stops."""
        return await self._finish_active(
            execution_id, {"status": ExecutionStatus.CANCELLED.value, "error": "cancelled"}
        )

    async def fail(self, execution_id: str, reason: str) -> BacktestExecution:
        return await self._finish_active(
            execution_id, {"status": ExecutionStatus.FAILED.value, "error": reason}
        )

    async def requeue(self, execution_id: str) -> bool:
        """Put a running execution whose worker was lost back in the queue."""
        outcome = await self._collection.update_one(
            {"_id": execution_id, "status": ExecutionStatus.RUNNING.value},
            {"$set": {"status": ExecutionStatus.QUEUED.value}},
        )
        return outcome.modified_count == 1

    async def active_ids(self) -> list[tuple[str, int]]:
        """(id, attempts) of every queued or running execution, oldest first."""
        cursor = self._collection.find({"status": {"$in": ACTIVE_STATUSES}}, {"attempts": 1}).sort(
            "created_at", ASCENDING
        )
        return [(document["_id"], int(document["attempts"])) async for document in cursor]

    async def undelivered_ids(self) -> list[str]:
        """Finished executions whose final state the backend has not acknowledged."""
        finished = [status.value for status in FINAL_STATUSES]
        cursor = self._collection.find(
            {"status": {"$in": finished}, "delivered_at": None}, {"_id": 1}
        )
        return [document["_id"] async for document in cursor]

    async def mark_delivered(self, execution_id: str, at: datetime) -> None:
        await self._collection.update_one({"_id": execution_id}, {"$set": {"delivered_at": at}})

    async def _finish_active(self, execution_id: str, changes: Document) -> BacktestExecution:
        document = await self._collection.find_one_and_update(
            {"_id": execution_id, "status": {"$in": ACTIVE_STATUSES}},
            {"$set": {**changes, "end_time": utc_now()}},
            return_document=ReturnDocument.AFTER,
        )
        if document is not None:
            return BacktestExecution.from_document(document)
        execution = await self.get(execution_id)
        raise ExecutionAlreadyFinished(execution)
