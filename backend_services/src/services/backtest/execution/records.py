"""The `executions` collection: every read and write of it, by the event loop
(`ExecutionRecords`, asynchronous) and by a worker's run (`RunRecord`, synchronous).

An execution document holds the BacktestExecution fields (with `_id` for `id`), the
request it runs (`request`), the current run's `run_id` and `heartbeat_at` (written by
the worker), and `delivered_at`, set once the backend has acknowledged its final state
(or `delivery_refused`, the backend's answer when it refused it), and `stages`: when
each step of its lifecycle happened (queued, claimed, bars_loaded, engine_done,
trades_stored, result_stored, delivered), written with the writes that happen anyway.
A result, optimization and walk-forward are stored packed (`shared.packed`).
Every state change is an update guarded by the lifecycle table
(`shared.contracts.lifecycle.movable_to`), so two writers racing (a cancel and a
completion) leave exactly one final state.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from datetime import datetime

from bson import Binary
from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError, OperationFailure

from backend_services.services.backtest.execution.scheduling import WaitingRun
from shared.contracts.common import utc_now
from shared.contracts.executions import (
    DEFAULT_PRIORITY,
    BacktestExecution,
    PackedResult,
    RunBacktestRequest,
)
from shared.contracts.lifecycle import FINAL_STATUS_VALUES, BacktestStatus, movable_to
from shared.contracts.sweeps import Optimization
from shared.contracts.validation import WalkForward
from shared.errors import Conflict, NotFound
from shared.mongo import Document, stored_time
from shared.packed import pack, unpacked
from shared.rule_upgrades import ROC_IN_PERCENT, upgrade_once

__all__ = [
    "EXECUTIONS_COLLECTION",
    "Claim",
    "ExecutionAlreadyFinished",
    "ExecutionNotCompleted",
    "ExecutionNotFound",
    "ExecutionRecords",
    "RunRecord",
    "delivered",
]

EXECUTIONS_COLLECTION = "executions"
MAX_ERROR_CHARS = 2_000
_RUNNING = BacktestStatus.RUNNING.value
_LIVE = (BacktestStatus.QUEUED, BacktestStatus.RUNNING)


class ExecutionNotFound(NotFound):
    def __init__(self, execution_id: str) -> None:
        super().__init__("execution not found")
        self.execution_id = execution_id


class ExecutionAlreadyFinished(Conflict):
    def __init__(self, execution: BacktestExecution) -> None:
        super().__init__(f"execution {execution.id} is already {execution.status.value}")
        self.execution = execution


class ExecutionStillLive(Conflict):
    def __init__(self, execution: BacktestExecution) -> None:
        super().__init__(f"execution {execution.id} is {execution.status.value}: cancel it first")


class ExecutionNotCompleted(Conflict):
    """Its trades exist only once an execution has completed."""


class ExecutionRecords:
    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self._collection = collection

    async def ensure_indexes(self) -> None:
        """One field each: the service's sweeps select by status (one at a time), or by
        `delivered_at` for what awaits its delivery, and compare times themselves. They
        replace compound indexes, which the embedded server does not use."""
        await self._collection.create_index("backtest_id", unique=True)
        for replaced in ("status_1_delivered_at_1", "status_1_heartbeat_at_1"):
            with contextlib.suppress(OperationFailure):
                await self._collection.drop_index(replaced)
        await self._collection.create_index("status")
        await self._collection.create_index("delivered_at")

    async def create(self, request: RunBacktestRequest) -> tuple[BacktestExecution, bool]:
        """The execution of `request.backtest_id`, created if new; True when created."""
        now = utc_now()
        document: Document = {
            "_id": str(uuid.uuid4()),
            "backtest_id": request.backtest_id,
            "user_id": request.user_id,
            "strategy_id": request.strategy.id,
            "request": request.model_dump(mode="json"),
            "priority": request.priority,
            "request_id": request.request_id,
            "status": BacktestStatus.QUEUED.value,
            "progress": 0.0,
            "created_at": now,
            "stages": {"queued": now},
            "start_time": None,
            "end_time": None,
            "attempts": 0,
            "result": None,
            "optimization": None,
            "error": None,
            "delivered_at": None,
            "delivery_refused": None,
            "run_id": None,
            "heartbeat_at": None,
            "dispatched_at": None,
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

    async def require_final(self, execution_id: str) -> None:
        """Raises if the execution is unknown, or still queued or running."""
        execution = await self.get(execution_id)
        if not execution.status.is_final:
            raise ExecutionStillLive(execution)

    async def remove_final(self, execution_id: str) -> None:
        """Delete the record of an execution, if it has finished."""
        await self._collection.delete_one(
            {"_id": execution_id, "status": {"$in": FINAL_STATUS_VALUES}}
        )

    async def completed_run(self, execution_id: str) -> tuple[str, Document]:
        """The run_id and stored result of a completed execution."""
        document = await self._collection.find_one(
            {"_id": execution_id}, {"status": 1, "run_id": 1, "result": 1}
        )
        if document is None:
            raise ExecutionNotFound(execution_id)
        if document["status"] != BacktestStatus.COMPLETED.value:
            raise ExecutionNotCompleted(f"execution {execution_id} is {document['status']}")
        result: Document = unpacked(document["result"])
        return document["run_id"], result

    async def upgrade_rules(self, upgrades: AsyncCollection[Document]) -> None:
        """The rules of the runs not finished yet keep the meaning they were asked with
        (`shared.rule_upgrades`), once per database, noted in `upgrades`."""
        live = {"status": {"$in": [BacktestStatus.QUEUED.value, BacktestStatus.RUNNING.value]}}
        rewrites = [(self._collection, "request.strategy.rules", live)]
        await upgrade_once(upgrades, ROC_IN_PERCENT, rewrites)

    async def waiting_run(self, execution_id: str) -> WaitingRun | None:
        """The execution as a pool schedules it; None if there is no such record."""
        document = await self._collection.find_one(
            {"_id": execution_id}, {"user_id": 1, "priority": 1, "created_at": 1}
        )
        return _waiting(document) if document else None

    async def cancel(self, execution_id: str) -> BacktestExecution:
        """Move a queued or running execution to cancelled; the worker notices and stops."""
        return await self._finish_active(execution_id, BacktestStatus.CANCELLED, "cancelled")

    async def fail(self, execution_id: str, reason: str) -> BacktestExecution:
        return await self._finish_active(execution_id, BacktestStatus.FAILED, reason)

    async def outcome_of(self, execution_id: str) -> tuple[BacktestStatus, int, bool]:
        """The status, attempts so far and whether the API has acknowledged its final
        state, read in one small query."""
        document = await self._collection.find_one(
            {"_id": execution_id}, {"status": 1, "attempts": 1, "delivered_at": 1}
        )
        if document is None:
            raise ExecutionNotFound(execution_id)
        delivered = document.get("delivered_at") is not None
        return BacktestStatus(document["status"]), int(document["attempts"]), delivered

    async def requeue(self, execution_id: str, stale_before: datetime | None = None) -> bool:
        """Put a running execution whose worker was lost back in the queue; with
        `stale_before`, only if its heartbeat is still older than that."""
        query: Document = {
            "_id": execution_id,
            "status": movable_to(BacktestStatus.QUEUED, BacktestStatus.RUNNING),
        }
        if stale_before is not None:
            query["heartbeat_at"] = {"$lt": stale_before}
        outcome = await self._collection.update_one(
            query,
            {
                "$set": {
                    "status": BacktestStatus.QUEUED.value,
                    "run_id": None,
                    "dispatched_at": None,
                }
            },
        )
        return outcome.modified_count == 1

    async def stale_running(self, stale_before: datetime) -> list[tuple[str, int]]:
        """(id, attempts) of running executions whose heartbeat is older than given."""
        cursor = self._collection.find(
            {"status": BacktestStatus.RUNNING.value}, {"attempts": 1, "heartbeat_at": 1}
        )
        # Compared here: running executions are few, and a range over dates makes the
        # embedded server read every document.
        return [
            (document["_id"], int(document["attempts"]))
            async for document in cursor
            if (beat := stored_time(document.get("heartbeat_at"))) is not None
            and beat < stale_before
        ]

    async def queued_by_priority(self) -> dict[int, int]:
        """How many executions wait, by priority (0 to 9, each present)."""
        counts = dict.fromkeys(range(10), 0)
        cursor = self._collection.find({"status": BacktestStatus.QUEUED.value}, {"priority": 1})
        async for document in cursor:
            counts[_priority(document)] += 1
        return counts

    async def waiting_to_dispatch(self) -> list[WaitingRun]:
        """Queued executions no fleet task has been published for, oldest first."""
        cursor = self._collection.find(
            {"status": BacktestStatus.QUEUED.value, "dispatched_at": None},
            {"user_id": 1, "priority": 1, "created_at": 1},
        ).sort("created_at", ASCENDING)
        return [_waiting(document) async for document in cursor]

    async def slots_held(self) -> dict[str, int]:
        """Per member, the executions running or published and not yet started."""
        held: dict[str, int] = {}
        for query in (
            {"status": BacktestStatus.RUNNING.value},
            {"status": BacktestStatus.QUEUED.value, "dispatched_at": {"$ne": None}},
        ):
            async for document in self._collection.find(query, {"user_id": 1}):
                held[document["user_id"]] = held.get(document["user_id"], 0) + 1
        return held

    async def mark_dispatched(self, execution_id: str) -> bool:
        """Note that a task was published for the queued execution; False if another
        instance did it first or it is no longer queued."""
        outcome = await self._collection.update_one(
            {"_id": execution_id, "status": BacktestStatus.QUEUED.value, "dispatched_at": None},
            {"$set": {"dispatched_at": utc_now()}},
        )
        return outcome.modified_count == 1

    async def forget_dispatch(self, execution_id: str | None = None) -> None:
        """Publish again: the queued execution named (its publish failed), or, at a
        fleet's start, every queued one (what was published may not be in the broker)."""
        query: Document = {"status": BacktestStatus.QUEUED.value}
        if execution_id is not None:
            query["_id"] = execution_id
        await self._collection.update_many(query, {"$set": {"dispatched_at": None}})

    async def queued(self) -> list[WaitingRun]:
        """Every queued execution, oldest first."""
        cursor = self._collection.find(
            {"status": BacktestStatus.QUEUED.value}, {"user_id": 1, "priority": 1, "created_at": 1}
        ).sort("created_at", ASCENDING)
        return [_waiting(document) async for document in cursor]

    async def finished_among(self, execution_ids: list[str]) -> list[str]:
        """Those of `execution_ids` that have reached a final state."""
        cursor = self._collection.find(
            {"_id": {"$in": execution_ids}, "status": {"$in": FINAL_STATUS_VALUES}}, {"_id": 1}
        )
        return [document["_id"] async for document in cursor]

    async def undelivered_ids(self, include_refused: bool) -> list[str]:
        """Finished executions whose final state the backend has not acknowledged;
        those it refused (4xx) only with `include_refused`."""
        query: Document = {"delivered_at": None, "status": {"$in": FINAL_STATUS_VALUES}}
        if not include_refused:
            query["delivery_refused"] = None
        cursor = self._collection.find(query, {"_id": 1})
        return [document["_id"] async for document in cursor]

    async def mark_delivered(self, execution_id: str, at: datetime) -> None:
        await self._collection.update_one({"_id": execution_id}, delivered(at))

    async def mark_refused(self, execution_id: str, reason: str) -> None:
        await self._collection.update_one(
            {"_id": execution_id}, {"$set": {"delivery_refused": reason}}
        )

    async def _finish_active(
        self, execution_id: str, status: BacktestStatus, reason: str
    ) -> BacktestExecution:
        document = await self._collection.find_one_and_update(
            {"_id": execution_id, "status": movable_to(status, *_LIVE)},
            {"$set": {"status": status.value, "error": reason, "end_time": utc_now()}},
            return_document=ReturnDocument.AFTER,
        )
        if document is not None:
            return BacktestExecution.from_document(document)
        execution = await self.get(execution_id)
        raise ExecutionAlreadyFinished(execution)


@dataclass(frozen=True, slots=True)
class Claim:
    """A run that claimed a queued execution: its record, the request as stored (the job
    validates it, and fails the run when it is not valid) and the attempt it is."""

    record: RunRecord
    request_fields: Document
    attempt: int
    submitted_at: datetime
    claimed_at: datetime


class RunRecord:
    """One run's view of its execution record, from a worker process (synchronous client).

    Every write is fenced by the run's `run_id` and the `running` status, so a run that
    was given up on (its heartbeat went stale and the execution was queued again) or
    cancelled can never overwrite the state of the run that replaced it.
    """

    def __init__(self, executions: Collection[Document], execution_id: str, run_id: str) -> None:
        self.execution_id = execution_id
        self._executions = executions
        self._this_run = {"_id": execution_id, "status": _RUNNING, "run_id": run_id}

    @classmethod
    def claim(
        cls,
        executions: Collection[Document],
        execution_id: str,
        worker: str,
        stale_before: datetime | None = None,
        max_attempts: int | None = None,
    ) -> Claim | None:
        """Move a queued execution to running under a fresh run id, naming the `worker`
        (host:pid) that runs it; with `stale_before`, also take over a run whose
        heartbeat is older than that (its worker died). None if there is nothing to
        claim (cancelled, finished, or claimed by a live worker)."""
        run_id = uuid.uuid4().hex
        now = utc_now()
        claim: Document = {
            "$set": {
                "status": _RUNNING,
                "run_id": run_id,
                "start_time": now,
                "heartbeat_at": now,
                "worker": worker,
                "stages.claimed": now,
            },
            "$inc": {"attempts": 1},
        }
        running = BacktestStatus.RUNNING
        fields = {"request": 1, "attempts": 1, "created_at": 1}
        after = ReturnDocument.AFTER
        claimed = executions.find_one_and_update(
            {"_id": execution_id, "status": movable_to(running, BacktestStatus.QUEUED)},
            claim,
            fields,
            return_document=after,
        )
        if claimed is None and stale_before is not None:
            taken_over: Document = {
                "_id": execution_id,
                "status": movable_to(running, running),
                "heartbeat_at": {"$lt": stale_before},
            }
            if max_attempts is not None:  # one that used them all is given up instead
                taken_over["attempts"] = {"$lt": max_attempts}
            claimed = executions.find_one_and_update(
                taken_over,
                claim,
                fields,
                return_document=after,
            )
        if claimed is None:
            return None
        record = cls(executions, execution_id, run_id)
        attempt = int(claimed["attempts"])
        return Claim(record, claimed["request"], attempt, claimed["created_at"], now)

    @staticmethod
    def give_up(
        executions: Collection[Document],
        execution_id: str,
        stale_before: datetime,
        max_attempts: int,
    ) -> tuple[Document, str, datetime] | None:
        """Fail a run whose heartbeat is older than `stale_before` and that has used
        its `max_attempts`, without claiming it (so it never shows running again);
        its stored request, the reason and when it ended, or None if there is none
        such."""
        ended = utc_now()
        reason = (
            f"its worker died while running it {max_attempts} times; "
            f"gave up after {max_attempts} attempts"
        )
        failed = executions.find_one_and_update(
            {
                "_id": execution_id,
                "status": movable_to(BacktestStatus.FAILED, BacktestStatus.RUNNING),
                "heartbeat_at": {"$lt": stale_before},
                "attempts": {"$gte": max_attempts},
            },
            {
                "$set": {
                    "status": BacktestStatus.FAILED.value,
                    "error": reason,
                    "end_time": ended,
                    "stages.result_stored": ended,
                }
            },
            {"request": 1},
        )
        return (failed["request"], reason, ended) if failed else None

    @property
    def run_id(self) -> str:
        run_id: str = self._this_run["run_id"]
        return run_id

    def beat(self, progress: float) -> bool:
        """Refresh `heartbeat_at` and raise the stored progress to `progress` (never
        lower it), in one write; False once the record no longer runs under this run."""
        outcome = self._executions.update_one(
            self._this_run,
            {"$set": {"heartbeat_at": utc_now()}, "$max": {"progress": progress}},
        )
        return outcome.matched_count == 1

    def still_running(self) -> bool:
        """Whether the record still runs under this run (not cancelled, not given up on)."""
        return self._executions.find_one(self._this_run, {"_id": 1}) is not None

    def request_while_running(self) -> Document | None:
        """The stored request, while the execution runs under this run; else None."""
        document = self._executions.find_one(self._this_run, {"request": 1})
        return document["request"] if document else None

    def note_part_workers(self, workers: list[str]) -> None:
        """The workers that ran the parts of this run's sweep (host:pid each)."""
        self._executions.update_one(self._this_run, {"$set": {"part_workers": workers}})

    def complete(
        self,
        result: PackedResult,
        optimization: Optimization | None,
        stages: dict[str, datetime],
        walk_forward: WalkForward | None = None,
    ) -> datetime | None:
        """Store the result (packed once, and reported to the API as it is stored), with
        the times of the run's stages; the time it ended, or None when the record no
        longer runs under this run (cancelled, given up on)."""
        outcome: Document = {"progress": 100.0, "result": Binary(result.packed)}
        if optimization is not None:
            outcome["optimization"] = pack(optimization)
        if walk_forward is not None:
            outcome["walk_forward"] = pack(walk_forward)
        return self._finish(BacktestStatus.COMPLETED, outcome, stages)

    def fail(self, reason: str, stages: dict[str, datetime] | None = None) -> datetime | None:
        """Store the failure and its reason; as `complete`."""
        return self._finish(
            BacktestStatus.FAILED, {"error": reason[:MAX_ERROR_CHARS]}, stages or {}
        )

    def _finish(
        self, status: BacktestStatus, outcome: Document, stages: dict[str, datetime]
    ) -> datetime | None:
        ended = utc_now()
        stage_times = {f"stages.{name}": at for name, at in stages.items()}
        stored = self._executions.update_one(
            {**self._this_run, "status": movable_to(status, BacktestStatus.RUNNING)},
            {
                "$set": {
                    **outcome,
                    **stage_times,
                    "status": status.value,
                    "end_time": ended,
                    "stages.result_stored": ended,
                }
            },
        )
        return ended if stored.matched_count == 1 else None


def stored_status(executions: Collection[Document], execution_id: str) -> BacktestStatus | None:
    """The execution's status as stored now; None if there is no such execution."""
    document = executions.find_one({"_id": execution_id}, {"status": 1})
    return BacktestStatus(document["status"]) if document else None


def _waiting(document: Document) -> WaitingRun:
    """The execution as a pool schedules it; a record from before its member and time
    were kept on it waits as nobody's, from now."""
    return WaitingRun(
        document["_id"],
        document.get("user_id", ""),
        _priority(document),
        document.get("created_at") or utc_now(),
    )


def _priority(document: Document) -> int:
    """The execution's priority; records written before it was kept apart have the
    request's default."""
    return int(document.get("priority", DEFAULT_PRIORITY))


def delivered(at: datetime) -> Document:
    """The change noting that the API acknowledged an execution's final state `at`."""
    return {"$set": {"delivered_at": at, "delivery_refused": None, "stages.delivered": at}}
