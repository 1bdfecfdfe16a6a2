"""Executions on the compute service: the run request, its record and its final report."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Self

from pydantic import ConfigDict, Field, field_validator, model_validator

from shared.contracts.backtests import BacktestParams, ResolvedBacktest
from shared.contracts.common import Count, Id, RequestId, Text, WireModel
from shared.contracts.lifecycle import BacktestStatus
from shared.contracts.results import BacktestResult, BacktestStatistics
from shared.contracts.strategies import StrategySnapshot
from shared.contracts.sweeps import Optimization, Sweep, check_sweep
from shared.contracts.validation import Validation, WalkForward, check_windows
from shared.limits import MAX_RESULT_BYTES
from shared.packed import check_packed, pack, unpacked_model

__all__ = [
    "DEFAULT_PRIORITY",
    "BacktestExecution",
    "ExecutionReport",
    "ExecutionUpdate",
    "PackedResult",
    "RunBacktestAccepted",
    "RunBacktestRequest",
]


DEFAULT_PRIORITY = 5


class RunBacktestRequest(WireModel):
    backtest_id: Id
    user_id: Id
    strategy: StrategySnapshot
    params: BacktestParams
    priority: int = Field(
        default=DEFAULT_PRIORITY, ge=0, le=9, description="0 the most urgent, 9 the least."
    )
    data_version: int | None = Field(
        default=None,
        ge=1,
        description="The symbol's market-data version when the backtest was submitted. "
        "A worker holding it in its cache reads nothing; otherwise the run takes the "
        "version current when it starts. The result names the version used.",
    )
    sweep: Sweep | None = Field(
        default=None, description="Run every combination of this grid, not one backtest."
    )
    request_id: RequestId | None = Field(
        default=None, description="The member's request that started it, for the logs."
    )
    validation: Validation | None = Field(
        default=None, description="Validate the sweep walk-forward over these windows."
    )

    @model_validator(mode="after")
    def _sweep_fits_strategy(self) -> Self:
        if self.sweep is not None:
            backtest = ResolvedBacktest.resolve(self.strategy, self.params)
            check_sweep(self.sweep, backtest)
            if self.validation is not None:
                check_windows(self.validation, self.sweep, backtest)
        elif self.validation is not None:
            raise ValueError("a walk-forward validation needs a sweep")
        return self


class RunBacktestAccepted(WireModel):
    execution_id: Id
    status: BacktestStatus


class BacktestExecution(WireModel):
    """One run on the compute service: the single truth of its state."""

    id: Id
    backtest_id: Id
    user_id: Id
    strategy_id: Id
    status: BacktestStatus
    progress: float = Field(ge=0, le=100)
    created_at: datetime
    start_time: datetime | None = None
    end_time: datetime | None = None
    attempts: Count = 0
    result: BacktestResult | None = None
    optimization: Optimization | None = None
    walk_forward: WalkForward | None = None
    error: Text | None = None
    request_id: RequestId | None = Field(
        default=None, description="The member's request that started it, for the logs."
    )

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> BacktestExecution:
        fields = {name: document.get(name) for name in cls.model_fields if name != "id"}
        packed = {
            "result": unpacked_model(BacktestResult, document.get("result")),
            "optimization": unpacked_model(Optimization, document.get("optimization")),
            "walk_forward": unpacked_model(WalkForward, document.get("walk_forward")),
        }
        return cls.model_validate({**fields, **packed, "id": document["_id"]})


class PackedResult(WireModel):
    """A result as the compute service stores it (`shared.packed`: its JSON, compressed),
    with its statistics in the clear. A worker reports its result so: it is serialized
    and compressed once, where it was made, the API stores the value as it arrives, and
    a million-bar run's final state crosses as 200 KB rather than 560.

    The API checks the value is a packed one within MAX_RESULT_BYTES, not what it
    holds: both were made by the worker from one validated result, in a call whose
    signature covers every byte, and a member's read validates the result (unpacking
    and validating it here would cost as much as it saves)."""

    model_config = ConfigDict(ser_json_bytes="base64", val_json_bytes="base64")

    packed: bytes = Field(description="The result packed, base64 in JSON.")
    statistics: BacktestStatistics

    @field_validator("packed")
    @classmethod
    def _packed_within_bounds(cls, value: bytes) -> bytes:
        check_packed(value, most=MAX_RESULT_BYTES)
        return value

    @classmethod
    def of(cls, result: BacktestResult) -> PackedResult:
        return cls(packed=bytes(pack(result)), statistics=result.statistics())


class ExecutionReport(WireModel):
    """Body of `POST /api/backtest/save_result`: an execution's final state."""

    execution_id: Id
    backtest_id: Id
    status: BacktestStatus
    end_time: datetime | None = None
    result: BacktestResult | None = None
    packed_result: PackedResult | None = Field(
        default=None, description="The result as stored, in place of `result`."
    )
    optimization: Optimization | None = None
    walk_forward: WalkForward | None = None
    error: Text | None = None
    progress: float | None = Field(
        default=None, ge=0, le=100, description="How far it got, when it ended unfinished."
    )

    @model_validator(mode="after")
    def _is_final(self) -> Self:
        if not self.status.is_final:
            raise ValueError("only a final status can be reported")
        if self.result is not None and self.packed_result is not None:
            raise ValueError("a result is carried once: as it is, or packed")
        if self.status is BacktestStatus.COMPLETED and not self.has_result:
            raise ValueError("a completed execution must carry its result")
        return self

    @property
    def has_result(self) -> bool:
        return self.result is not None or self.packed_result is not None

    def result_packed(self) -> PackedResult | None:
        """The result packed: as it arrived, or packed now."""
        if self.result is not None:
            return PackedResult.of(self.result)
        return self.packed_result

    @classmethod
    def of(cls, execution: BacktestExecution) -> ExecutionReport:
        return cls(
            execution_id=execution.id,
            backtest_id=execution.backtest_id,
            status=execution.status,
            end_time=execution.end_time,
            result=execution.result,
            optimization=execution.optimization,
            walk_forward=execution.walk_forward,
            error=execution.error,
            progress=None if execution.result is not None else execution.progress,
        )


class ExecutionUpdate(WireModel):
    """Body of `POST /api/backtest/events`: a live change of an execution (claimed, or
    progress), pushed by the worker running it as it happens."""

    backtest_id: Id
    execution_id: Id
    status: BacktestStatus
    progress: float = Field(ge=0, le=100)

    @model_validator(mode="after")
    def _is_live(self) -> Self:
        if not self.status.is_live:
            raise ValueError("only a queued or running state is pushed live")
        return self
