"""The backend's API models (the wire models shared with the compute service live in
shared.contracts)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from backend.rankings import OptimizationOutline, outline_of
from shared.contracts.backtests import BacktestParams
from shared.contracts.common import Symbol, Text
from shared.contracts.executions import FINAL_STATUS_VALUES, LIVE_STATUS_VALUES
from shared.contracts.results import BacktestResult, BacktestStatistics
from shared.contracts.strategies import (
    DEFAULT_PARAMETERS,
    Costs,
    Orders,
    Parameters,
    Rules,
    check_rules,
)
from shared.contracts.sweeps import Sweep
from shared.timeframes import Timeframe


class StrategyFields(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    name: Annotated[Text, Field(min_length=1, max_length=100)]
    description: Text = ""
    symbol: Symbol
    timeframe: Timeframe = "1d"
    parameters: Parameters = Field(
        default_factory=lambda: dict(DEFAULT_PARAMETERS),
        description="Named numbers the rules use; a backtest may override them.",
    )
    rules: Rules = Field(default_factory=Rules)
    orders: Orders = Field(default_factory=Orders)
    costs: Costs = Field(default_factory=Costs)

    @model_validator(mode="after")
    def _rules_parse(self) -> Self:
        """A rule that would fail a backtest is refused when the strategy is saved."""
        check_rules(self.rules, self.parameters)
        return self


class StrategyCreate(StrategyFields):
    """A strategy: its market, rules, parameters, orders and costs."""


class StrategyUpdate(StrategyFields):
    """A full replacement of a strategy's fields."""


class Strategy(StrategyFields):
    id: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> Strategy:
        return cls.model_validate(
            {name: document[name] for name in cls.model_fields if name in document}
            | {"id": document["_id"]}
        )


class BacktestStatus(StrEnum):
    """An execution's status, plus `pending` before the compute service has it."""

    PENDING = "pending"
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self.value in FINAL_STATUS_VALUES

    @property
    def is_live(self) -> bool:
        """Queued or running on the compute service."""
        return self.value in LIVE_STATUS_VALUES


class BacktestState(BaseModel):
    """A backtest's status and execution, whoever owns it."""

    status: BacktestStatus
    execution_id: str | None


class Backtest(BaseModel):
    id: str
    strategy_id: str
    status: BacktestStatus
    progress: float
    params: BacktestParams
    execution_id: str | None
    created_at: datetime
    updated_at: datetime
    result: BacktestResult | None = Field(
        description="For an optimization, the full backtest of the best combination."
    )
    sweep: Sweep | None = Field(default=None, description="Set for an optimization.")
    optimization: OptimizationOutline | None = Field(
        default=None,
        description="An optimization's best combinations and heatmap, once completed.",
    )
    error: str | None
    notes: list[str] = Field(
        default_factory=list,
        description="What the member should know about how it ran: for one, that the "
        "stored bars cover less than the range asked for, and the range used instead.",
    )

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> Backtest:
        optimization = document.get("optimization")
        return cls.model_validate(
            {name: document.get(name) for name in cls.model_fields if name != "id"}
            | {"id": document["_id"], "notes": document.get("notes") or []}
            | ({"optimization": outline_of(optimization)} if optimization else {})
        )


class OptimizeRequest(BacktestParams):
    """A backtest's params plus the sweep: every combination of the grid runs over the
    same data, range and costs."""

    sweep: Sweep


class BacktestSummary(BaseModel):
    """A backtest in a list: its state and statistics, without trades or curve."""

    id: str
    strategy_id: str
    status: BacktestStatus
    progress: float
    created_at: datetime
    error: str | None
    statistics: BacktestStatistics | None = Field(
        description="For an optimization, the best combination's."
    )
    sweep: Sweep | None = Field(default=None, description="Set for an optimization.")


class SaveResultAck(BaseModel):
    stored: bool = Field(description="False when the backtest had already reached a final state.")
