"""What a worker process does with one execution.

It claims the execution (queued -> running), loads and resamples the bars, runs the
engine and stores the outcome in the execution record, all through a synchronous
MongoDB client of its own. Progress is written to the record as it goes; when the
record is found no longer running (cancelled meanwhile), the run stops at once.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from pydantic import ValidationError
from pymongo import ReturnDocument
from pymongo.collection import Collection
from pymongo.database import Database

from backend_services.contracts import (
    BacktestResult,
    ExecutionStatus,
    ResolvedBacktest,
    RunBacktestRequest,
    utc_now,
)
from backend_services.market_data.bars import MarketDataError
from backend_services.market_data.store import find_symbol, load_bars
from backend_services.mongo import sync_client
from backend_services.services.backtest.backtest_engine import BacktestEngine
from backend_services.services.backtest.execution_store import EXECUTIONS_COLLECTION

logger = logging.getLogger(__name__)

Document = dict[str, Any]
PROGRESS_WRITE_INTERVAL_S = 0.25
_RUNNING = ExecutionStatus.RUNNING.value

_database: Database[Document] | None = None


class ExecutionCancelled(Exception):
    """The execution record stopped being `running` while the work was under way."""


def init_worker(mongo_url: str, mongo_db: str) -> None:
    """Process-pool initializer: one MongoDB client per worker process."""
    global _database
    _database = sync_client(mongo_url)[mongo_db]


def run_execution(execution_id: str) -> None:
    """Run one queued execution to a final state; returns quietly if it is not queued."""
    if _database is None:
        raise RuntimeError("init_worker() must run in this process first")
    executions = _database[EXECUTIONS_COLLECTION]
    claimed = executions.find_one_and_update(
        {"_id": execution_id, "status": ExecutionStatus.QUEUED.value},
        {"$set": {"status": _RUNNING, "start_time": utc_now()}, "$inc": {"attempts": 1}},
        return_document=ReturnDocument.AFTER,
    )
    if claimed is None:
        return
    progress = ProgressRecorder(executions, execution_id)
    try:
        result = _backtest(
            _database, RunBacktestRequest.model_validate(claimed["request"]), progress
        )
    except ExecutionCancelled:
        return
    except (MarketDataError, ValidationError) as error:
        _finish(
            executions, execution_id, {"status": ExecutionStatus.FAILED.value, "error": str(error)}
        )
    except Exception as error:
        logger.exception("execution %s failed", execution_id)
        _finish(
            executions,
            execution_id,
            {
                "status": ExecutionStatus.FAILED.value,
                "error": f"internal error: {type(error).__name__}",
            },
        )
    else:
        _finish(
            executions,
            execution_id,
            {
                "status": ExecutionStatus.COMPLETED.value,
                "progress": 100.0,
                "result": result.model_dump(mode="json"),
            },
        )


class ProgressRecorder:
    """Writes a never-decreasing progress percentage to the record, at most every
    PROGRESS_WRITE_INTERVAL_S, and raises ExecutionCancelled once it is not running."""

    def __init__(self, executions: Collection[Document], execution_id: str) -> None:
        self._executions = executions
        self._execution_id = execution_id
        self._last_write = 0.0

    def report(self, percent: float) -> None:
        now = time.monotonic()
        if now - self._last_write < PROGRESS_WRITE_INTERVAL_S:
            return
        self._last_write = now
        outcome = self._executions.update_one(
            {"_id": self._execution_id, "status": _RUNNING},
            {"$max": {"progress": round(min(percent, 99.0), 1)}},
        )
        if outcome.matched_count == 0:
            raise ExecutionCancelled(self._execution_id)


def _backtest(
    database: Database[Document], request: RunBacktestRequest, progress: ProgressRecorder
) -> BacktestResult:
    backtest = ResolvedBacktest.resolve(request.strategy, request.params)
    progress.report(1)
    entry = find_symbol(database, backtest.symbol)
    if not entry.can_serve(backtest.timeframe):
        raise MarketDataError(
            f"{backtest.symbol} is stored as {entry.timeframe} bars and cannot be split "
            f"into {backtest.timeframe} bars"
        )
    bars = load_bars(
        database,
        entry,
        int(backtest.start_date.timestamp()),
        int(backtest.end_date.timestamp()),
        on_bucket=lambda fraction: progress.report(2 + 48 * fraction),
    )
    if backtest.timeframe != entry.timeframe:
        bars = bars.resample(backtest.timeframe)
    engine = BacktestEngine(on_progress=lambda fraction: progress.report(50 + 49 * fraction))
    return engine.run(bars, backtest, strategy_id=request.strategy.id)


def _finish(executions: Collection[Document], execution_id: str, changes: Document) -> None:
    """Store a final state unless the execution was finished meanwhile (cancelled)."""
    executions.update_one(
        {"_id": execution_id, "status": _RUNNING},
        {"$set": {**changes, "end_time": utc_now()}},
    )
