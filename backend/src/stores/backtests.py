"""Backtests in MongoDB: what the member asked for, the hand-over to the compute service
and the final result. Live state (claimed, progress) is not kept here: it is pushed to
the API and held by `streams.progress_hub.ProgressHub`.

A result is stored packed (`shared.packed`): it is written and read whole, and its
statistics are kept beside it for lists.

Every update that changes the status is guarded by the lifecycle table
(`shared.contracts.lifecycle.movable_to`), so a final status is never left and a repeat
or a race never moves a backtest backwards. Its listener (the progress hub) is told of
each write as it happens: a backtest accepted, handed over, otherwise changed, or final,
so subscribers have a final state at once and a member's reads of a backtest this
process accepted need not read it back while it runs.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Protocol

from bson import Binary
from pymongo import DESCENDING, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection

from backend.schemas import Backtest, BacktestState, BacktestSummary, outline_of
from backend.stores.rankings import RankingStore
from shared.contracts.backtests import BacktestParams
from shared.contracts.common import utc_now
from shared.contracts.executions import ExecutionReport, PackedResult, RunBacktestRequest
from shared.contracts.lifecycle import (
    FINAL_STATUS_VALUES,
    LIVE_STATUS_VALUES,
    BacktestStatus,
    movable_to,
)
from shared.contracts.results import BacktestResult
from shared.contracts.strategies import StrategySnapshot
from shared.contracts.sweeps import Sweep
from shared.contracts.validation import Validation
from shared.mongo import Document, stored_time
from shared.packed import unpacked_model

logger = logging.getLogger(__name__)

MAX_LISTED = 500
_LIVE = {"$in": LIVE_STATUS_VALUES}
_LIVE_STATUSES = (BacktestStatus.QUEUED, BacktestStatus.RUNNING)
_SUMMARY_FIELDS = [name for name in BacktestSummary.model_fields if name != "id"]
# The strategy's snapshot gives the parameters it ran with.
_SUMMARY_PROJECTION = dict.fromkeys([*_SUMMARY_FIELDS, "strategy"], 1)


class BacktestListener(Protocol):
    """Told of what the store writes as it writes it: the progress hub, which holds the
    live state of the backtests this process accepted and publishes final states."""

    def publish_accepted(self, user_id: str, backtest: Backtest) -> None:
        """A backtest just stored for `user_id`."""

    def publish_dispatched(self, backtest_id: str, execution_id: str, at: datetime) -> None:
        """A pending backtest handed over (queued, with its execution): recorded, or to
        be recorded unless its final state comes first."""

    def forget_accepted(self, backtest_id: str) -> None:
        """A live backtest changed otherwise (a failed hand-over, a lost execution)."""

    def publish_final(self, backtest: Backtest, statistics: Document | None = None) -> None:
        """A final state, as stored, with its statistics once completed (its result is
        None when it arrived packed)."""

    def live_progress(self, backtest_id: str) -> float | None:
        """The latest progress a worker pushed for a running backtest; None if none."""

    async def final_within(self, backtest_id: str, seconds: float) -> BacktestStatus | None:
        """The final status this process stores for the backtest, waiting at most
        `seconds` for one; None if none came."""


class BacktestStore:
    def __init__(
        self,
        collection: AsyncCollection[Document],
        rankings: RankingStore,
        listener: BacktestListener | None = None,
    ) -> None:
        self._collection = collection
        self._rankings = rankings
        self._listener = listener

    async def create(
        self,
        user_id: str,
        strategy: StrategySnapshot,
        params: BacktestParams,
        input_key: str,
        data_version: int,
        sweep: Sweep | None = None,
        notes: list[str] | None = None,
        request_id: str | None = None,
        validation: Validation | None = None,
    ) -> Backtest:
        """Record a backtest. If an identical one (same `input_key`) has completed, this
        one is completed at once with a copy of its result, marked `cached`; otherwise it
        waits for dispatch."""
        now = utc_now()
        document: Document = {
            "_id": str(uuid.uuid4()),
            "user_id": user_id,
            "strategy_id": strategy.id,
            "strategy": strategy.model_dump(mode="json"),
            "params": params.model_dump(mode="json"),
            "sweep": sweep.model_dump(mode="json") if sweep else None,
            "validation": validation.model_dump(mode="json") if validation else None,
            "input_key": input_key,
            "data_version": data_version,
            "status": BacktestStatus.PENDING.value,
            "progress": 0.0,
            "execution_id": None,
            "result": None,
            "error": None,
            "notes": notes or [],
            "request_id": request_id,
            "created_at": now,
            "updated_at": now,
            "stages": {"accepted": now},
        }
        earlier = await self._collection.find_one(
            {"input_key": input_key, "status": BacktestStatus.COMPLETED.value},
            {
                "result": 1,
                "optimization": 1,
                "walk_forward": 1,
                "execution_id": 1,
                "trades_execution_id": 1,
            },
        )
        reused = _readable_result(earlier)
        if earlier is not None and reused is not None:
            reused = reused.model_copy(update={"strategy_id": strategy.id, "cached": True})
            document |= _result_fields(
                PackedResult.of(reused), earlier.get("optimization"), earlier.get("walk_forward")
            ) | {
                "status": BacktestStatus.COMPLETED.value,
                "cached": True,  # on the record too, so a list need not read the result
                # Its trades are the earlier run's, kept by the compute service.
                "trades_execution_id": earlier.get("trades_execution_id")
                or earlier.get("execution_id"),
            }
        await self._collection.insert_one(document)
        # The reused result as it is in hand, not unpacked again.
        backtest = Backtest.from_document(document | {"result": reused})
        if self._listener is not None:
            self._listener.publish_accepted(user_id, backtest)
        return backtest

    async def get(self, user_id: str, backtest_id: str) -> Backtest | None:
        document = await self._collection.find_one({"_id": backtest_id, "user_id": user_id})
        return Backtest.from_document(document) if document else None

    async def run_request(self, backtest_id: str) -> RunBacktestRequest | None:
        """What to send the compute service, while the backtest still waits for dispatch."""
        document = await self._collection.find_one(
            {"_id": backtest_id, "status": BacktestStatus.PENDING.value}
        )
        if document is None:
            return None
        return RunBacktestRequest(
            backtest_id=document["_id"],
            user_id=document["user_id"],
            strategy=StrategySnapshot.model_validate(document["strategy"]),
            params=BacktestParams.model_validate(document["params"]),
            data_version=document.get("data_version"),
            sweep=Sweep.model_validate(document["sweep"]) if document.get("sweep") else None,
            request_id=document.get("request_id"),
            validation=Validation.model_validate(document["validation"])
            if document.get("validation")
            else None,
        )

    async def list_for_strategy(self, user_id: str, strategy_id: str) -> list[BacktestSummary]:
        cursor = (
            self._collection.find(
                {"user_id": user_id, "strategy_id": strategy_id},
                _SUMMARY_PROJECTION,
            )
            .sort("created_at", DESCENDING)
            .limit(MAX_LISTED)
        )
        return [_summary(document) async for document in cursor]

    def note_dispatched(self, backtest_id: str, execution_id: str) -> None:
        """The compute service has the backtest: the listener is told at once, the
        record is moved by `mark_dispatched` later, unless its final state comes first
        (`ended_within`)."""
        if self._listener is not None:
            self._listener.publish_dispatched(backtest_id, execution_id, utc_now())

    async def ended_within(self, backtest_id: str, seconds: float) -> BacktestStatus | None:
        """The final status this process stores for the backtest, waiting at most
        `seconds` for one (none: at once); None if none came, or nothing listens."""
        if self._listener is None:
            return None
        return await self._listener.final_within(backtest_id, seconds)

    async def mark_dispatched(self, backtest_id: str, execution_id: str) -> bool:
        """Record the hand-over (queued, with the execution id); False if the backtest
        left `pending` meanwhile (cancelled, or its final state already arrived)."""
        now = utc_now()
        with self._told_if_unsure(backtest_id):
            outcome = await self._collection.update_one(
                {
                    "_id": backtest_id,
                    "status": movable_to(BacktestStatus.QUEUED, BacktestStatus.PENDING),
                },
                {
                    "$set": {
                        "execution_id": execution_id,
                        "status": BacktestStatus.QUEUED.value,
                        "error": None,
                        "updated_at": now,
                        "stages.dispatched": now,
                    }
                },
            )
        if outcome.matched_count:
            if self._listener is not None:
                self._listener.publish_dispatched(backtest_id, execution_id, now)
            return True
        await self._collection.update_one(
            {"_id": backtest_id, "execution_id": None}, {"$set": {"execution_id": execution_id}}
        )
        return False

    async def touch(self, backtest_id: str) -> None:
        """Note that a live backtest was heard of (its execution is alive), so the
        supervisor asks about it again only after RECONCILE_AFTER_S."""
        self._forget_accepted(backtest_id)
        await self._collection.update_one(
            {"_id": backtest_id, "status": _LIVE}, {"$set": {"updated_at": utc_now()}}
        )

    async def record_final(self, report: ExecutionReport) -> Backtest | None:
        """Store a final state once, and hand it to the listener; None if the backtest was
        already final (or belongs to another execution)."""
        now = utc_now()
        changes: Document = {
            "status": report.status.value,
            "execution_id": report.execution_id,
            "error": report.error,
            "updated_at": now,
            "stages.saved": now,
        }
        if not report.has_result:  # it ended unfinished: as far as it got, never less
            live = self._listener.live_progress(report.backtest_id) if self._listener else None
            reached = max(report.progress or 0.0, live or 0.0)
            if reached > 0:
                changes["progress"] = reached
        optimization = None
        statistics: Document | None = None
        if (packed := report.result_packed()) is not None:
            if report.optimization is not None:
                optimization = report.optimization.model_dump()
                # Before the backtest turns final, so a completed one always has it.
                await self._rankings.save(report.execution_id, optimization["ranked"])
                optimization = outline_of(optimization)
            walk_forward = report.walk_forward.model_dump() if report.walk_forward else None
            statistics = packed.statistics.model_dump()
            changes |= _result_fields(packed, optimization, walk_forward)
        # The result is not read back: it is the one in hand (a million-bar run's is
        # megabytes, and validating it again would cost as much as storing it), or,
        # when it arrived packed, validated by the member's first read.
        with self._told_if_unsure(report.backtest_id):
            document = await self._collection.find_one_and_update(
                {
                    "_id": report.backtest_id,
                    "status": movable_to(report.status),
                    "execution_id": {"$in": [None, report.execution_id]},
                },
                {"$set": changes},
                projection={"result": 0, "optimization": 0, "walk_forward": 0, "statistics": 0},
                return_document=ReturnDocument.AFTER,
            )
            if document is not None:
                document |= {
                    "result": report.result,
                    "optimization": optimization,
                    "walk_forward": report.walk_forward,
                }
            return self._finished(document, statistics)

    async def trades_execution(self, user_id: str, backtest_id: str) -> str | None:
        """The execution holding a completed backtest's trades (an earlier one's, for a
        reused result); None if the backtest is not the user's or not completed."""
        document = await self._collection.find_one(
            {"_id": backtest_id, "user_id": user_id, "status": BacktestStatus.COMPLETED.value},
            {"execution_id": 1, "trades_execution_id": 1},
        )
        if document is None:
            return None
        source: str | None = document.get("trades_execution_id") or document.get("execution_id")
        return source

    async def delete_final(self, user_id: str, backtest_id: str) -> bool:
        """Delete a finished backtest of the user's; False if there is none such."""
        outcome = await self._collection.delete_one(
            {"_id": backtest_id, "user_id": user_id, "status": {"$in": FINAL_STATUS_VALUES}}
        )
        return outcome.deleted_count == 1

    async def execution_in_use(self, execution_id: str, besides: str) -> bool:
        """Whether a backtest other than `besides` reads this execution's result or
        trades (its own run, or one answered from it)."""
        for field in ("execution_id", "trades_execution_id"):
            other = await self._collection.find_one(
                {field: execution_id, "_id": {"$ne": besides}}, {"_id": 1}
            )
            if other is not None:
                return True
        return False

    async def state_of(self, backtest_id: str) -> BacktestState | None:
        """The status and execution id of any backtest, whoever owns it."""
        document = await self._collection.find_one(
            {"_id": backtest_id}, {"execution_id": 1, "status": 1}
        )
        return BacktestState.model_validate(document) if document else None

    async def note_dispatch_failure(self, backtest_id: str, reason: str) -> None:
        self._forget_accepted(backtest_id)
        await self._collection.update_one(
            {"_id": backtest_id, "status": BacktestStatus.PENDING.value},
            {"$set": {"error": reason, "updated_at": utc_now()}},
        )

    async def stale_pending(self, not_updated_since: datetime, limit: int) -> list[str]:
        """Backtests still waiting to be handed over, untouched since the given time,
        the longest untouched first."""
        stale = await self._untouched_since((BacktestStatus.PENDING,), not_updated_since, limit)
        return [document["_id"] for document in stale]

    async def stale_live(self, not_updated_since: datetime, limit: int) -> list[tuple[str, str]]:
        """(backtest id, execution id) of queued or running backtests not heard of since,
        the longest unheard of first."""
        stale = await self._untouched_since(_LIVE_STATUSES, not_updated_since, limit)
        return [(document["_id"], document["execution_id"]) for document in stale]

    async def _untouched_since(
        self, statuses: tuple[BacktestStatus, ...], since: datetime, limit: int
    ) -> list[Document]:
        """Backtests in one of `statuses` whose `updated_at` is older than `since`,
        oldest first. Selected by one status at a time, their times compared here:
        backtests not yet final are few, and a range over dates, or `$in`, makes the
        embedded server read every document."""
        stale: list[tuple[datetime, Document]] = []
        for status in statuses:
            cursor = self._collection.find(
                {"status": status.value}, {"execution_id": 1, "updated_at": 1}
            )
            async for document in cursor:
                updated = stored_time(document.get("updated_at"))
                if updated is not None and updated < since:
                    stale.append((updated, document))
        stale.sort(key=lambda pair: pair[0])
        return [document for _, document in stale[:limit]]

    async def redispatch(self, backtest_id: str, lost_execution_id: str, reason: str) -> None:
        """The compute service no longer knows the execution: send the backtest again."""
        self._forget_accepted(backtest_id)
        await self._collection.update_one(
            {
                "_id": backtest_id,
                "execution_id": lost_execution_id,
                "status": movable_to(BacktestStatus.PENDING, *_LIVE_STATUSES),
            },
            {
                "$set": {
                    "status": BacktestStatus.PENDING.value,
                    "execution_id": None,
                    "error": reason,
                    "updated_at": utc_now(),
                }
            },
        )

    async def fail_pending(self, backtest_id: str, reason: str) -> None:
        """The compute service refused the backtest: it fails, with its reason."""
        await self._end_pending(backtest_id, BacktestStatus.FAILED, reason)

    async def cancel_pending(self, backtest_id: str) -> Backtest | None:
        """Cancel a backtest the compute service does not have yet."""
        return await self._end_pending(backtest_id, BacktestStatus.CANCELLED, "cancelled")

    async def _end_pending(
        self, backtest_id: str, status: BacktestStatus, error: str
    ) -> Backtest | None:
        with self._told_if_unsure(backtest_id):
            document = await self._collection.find_one_and_update(
                {"_id": backtest_id, "status": movable_to(status, BacktestStatus.PENDING)},
                {"$set": {"status": status.value, "error": error, "updated_at": utc_now()}},
                return_document=ReturnDocument.AFTER,
            )
            return self._finished(document)

    @contextlib.contextmanager
    def _told_if_unsure(self, backtest_id: str) -> Iterator[None]:
        """Around a write that moves a backtest the listener may hold: when it raises,
        whether it took effect is unknown, so the listener forgets the backtest and
        reads of it go to the store."""
        try:
            yield
        except BaseException:
            self._forget_accepted(backtest_id)
            raise

    def _forget_accepted(self, backtest_id: str) -> None:
        if self._listener is not None:
            self._listener.forget_accepted(backtest_id)

    def _finished(
        self, document: Document | None, statistics: Document | None = None
    ) -> Backtest | None:
        """The backtest a final move returned, handed to the listener with its
        `statistics` (its result is None when it arrived packed: read it)."""
        if document is None:
            return None
        backtest = Backtest.from_document(document)
        if self._listener is not None:
            self._listener.publish_final(backtest, statistics)
        return backtest


def _readable_result(document: Document | None) -> BacktestResult | None:
    """The stored result of `document`; None when there is none, or when it cannot be
    read (logged: the backtest is then computed again rather than refused)."""
    try:
        return unpacked_model(BacktestResult, document and document.get("result"))
    except ValueError:  # unpacking, or pydantic's ValidationError
        logger.exception("the stored result of %s cannot be read", document and document["_id"])
        return None


def _result_fields(
    result: PackedResult, optimization: Document | None, walk_forward: Document | None = None
) -> Document:
    return {
        "result": Binary(result.packed),
        "optimization": optimization,
        # Apart too: what a list says the statistics come from.
        "best_parameters": optimization.get("best_parameters") if optimization else None,
        "walk_forward": walk_forward,
        # Kept apart from the result so a list reads a few numbers, not every trade.
        "statistics": result.statistics.model_dump(),
        "progress": 100.0,
    }


def _summary(document: Document) -> BacktestSummary:
    return BacktestSummary.model_validate(
        {name: document.get(name) for name in _SUMMARY_FIELDS}
        | {
            "id": document["_id"],
            "parameters": document["strategy"]["parameters"]
            | (document["params"].get("parameters") or {}),
            "cached": bool(document.get("cached")),
        }
    )
