"""The backend's API models (the wire models shared with the compute service live in
shared.contracts)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.contracts.backtests import BACKTEST_PARAMS_EXAMPLE, BacktestParams
from shared.contracts.common import Count, Name, Symbol, Text, WireModel
from shared.contracts.lifecycle import BacktestStatus
from shared.contracts.results import BacktestResult, BacktestStatistics
from shared.contracts.search import DeflatedSharpe, Overfitting, SearchMethod
from shared.contracts.strategies import (
    DEFAULT_PARAMETERS,
    Costs,
    Orders,
    Parameters,
    Rules,
    StrategySnapshot,
    check_rules,
)
from shared.contracts.sweeps import Heatmap, Objective, Optimization, Sweep, SweepRow
from shared.contracts.validation import Validation, WalkForward
from shared.packed import unpacked_model
from shared.timeframes import Timeframe

STRATEGY_EXAMPLE: dict[str, Any] = {
    "name": "SMA 10/30",
    "description": "Long while the 10-day average is above the 30-day one.",
    "symbol": "GOOG",
    "timeframe": "1d",
    "parameters": {"fast": 10, "slow": 30},
    "rules": {
        "long_entry": "crossover(sma(close, fast), sma(close, slow))",
        "long_exit": "crossunder(sma(close, fast), sma(close, slow))",
    },
    "orders": {"stop_loss_pct": 0.05},
    "costs": {"commission_pct": 0.001, "slippage_pct": 0.0005},
}


TOP_RANKED = 20


class OptimizationOutline(WireModel):
    """An optimization as a backtest carries it: its best rows, not the whole ranking."""

    objective: Objective
    method: SearchMethod = "grid"
    combinations: Count = Field(description="Combinations run (a search's trials).")
    excluded: Count = Field(description="Combinations the constraint left out.")
    best_parameters: Parameters
    ranked: list[SweepRow] = Field(
        description=f"The best {TOP_RANKED} combinations, best first; page through all "
        "of them at /api/backtest/{id}/ranking."
    )
    ranked_total: Count = Field(description="Combinations in the whole ranking.")
    heatmap: Heatmap
    trial_objectives: list[float | None] | None = Field(
        default=None, description=Optimization.model_fields["trial_objectives"].description
    )
    deflated_sharpe: DeflatedSharpe | None = Field(
        default=None, description=Optimization.model_fields["deflated_sharpe"].description
    )
    pbo: Overfitting | None = Field(
        default=None, description=Optimization.model_fields["pbo"].description
    )


def outline_of(optimization: dict[str, Any]) -> dict[str, Any]:
    """A stored optimization (whole, as delivered, or already outlined) as an outline."""
    if "ranked_total" in optimization:
        return optimization
    table = Optimization.model_validate(optimization).ranked
    return optimization | {"ranked": table.row_dicts(0, TOP_RANKED), "ranked_total": len(table)}


class StrategyFields(BaseModel):
    model_config = ConfigDict(
        extra="forbid", allow_inf_nan=False, json_schema_extra={"examples": [STRATEGY_EXAMPLE]}
    )

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

    name: Name


class StrategyCheck(BaseModel):
    """Whether a strategy would be saved as it is and, if not, why (as an error body)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"ok": True, "detail": None, "errors": []}]}
    )

    ok: bool = Field(description="True: the strategy would be saved as it is.")
    detail: str | None = Field(default=None, description="Why not, in words.")
    errors: list[dict[str, Any]] = Field(
        default_factory=list, description="The fields that would be refused, as in ErrorBody."
    )

    @classmethod
    def refused(cls, body: dict[str, Any]) -> StrategyCheck:
        return cls(ok=False, detail=body["detail"], errors=body["errors"])


class StrategyUpdate(StrategyFields):
    """A full replacement of a strategy's fields."""

    name: Name


class StrategyRename(BaseModel):
    """A strategy's new name; nothing else changes."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"name": "SMA 10/30"}]}
    )

    name: Name


class Strategy(StrategyFields):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                STRATEGY_EXAMPLE
                | {
                    "id": "5b0d7c3e-8f0a-4c1e-9d55-2f7f3c1a9b10",
                    "created_at": "2026-11-30T09:12:44Z",
                    "updated_at": "2026-11-30T09:12:44Z",
                }
            ]
        }
    )

    id: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> Strategy:
        return cls.model_validate(
            {name: document[name] for name in cls.model_fields if name in document}
            | {"id": document["_id"]}
        )


class BacktestState(BaseModel):
    """A backtest's status and execution, whoever owns it."""

    status: BacktestStatus
    execution_id: str | None


class RunInputs(BaseModel):
    """What a run was given beyond its params, so every view of it can describe it."""

    strategy: StrategySnapshot | None = Field(
        default=None,
        description="The strategy as it was when the run started: its rules, orders "
        "(fills, sizing, exits) and costs; the params' overrides apply on top.",
    )
    data_version: int | None = Field(default=None, description="Its symbol's bars' version.")


class Backtest(RunInputs):
    """A backtest or optimization: its params, status, progress and, once completed,
    its result (for an optimization, the best combination's, and the ranking's top)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "0e6f1a52-3a8e-4c52-b2f1-7d4c9a0e5b21",
                    "strategy_id": "5b0d7c3e-8f0a-4c1e-9d55-2f7f3c1a9b10",
                    "status": "running",
                    "progress": 42.0,
                    "params": {
                        "start_date": "2005-01-01T00:00:00Z",
                        "end_date": "2012-12-31T00:00:00Z",
                        "initial_capital": 10000,
                        "parameters": {"fast": 8},
                    },
                    "execution_id": "9a1c7e0b-2d4f-4b8a-8c3e-5f6a7b8c9d0e",
                    "created_at": "2026-11-30T09:13:02Z",
                    "updated_at": "2026-11-30T09:13:03Z",
                    "result": None,
                    "sweep": None,
                    "optimization": None,
                    "error": None,
                    "notes": [],
                }
            ]
        }
    )

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
    validation: Validation | None = Field(
        default=None, description="Set for an optimization validated walk-forward."
    )
    walk_forward: WalkForward | None = Field(
        default=None,
        description="A walk-forward validation's windows, efficiency and in-sample curve, "
        "once completed; `result` is then the stitched out-of-sample run.",
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
            | {
                "id": document["_id"],
                "notes": document.get("notes") or [],
                "result": unpacked_model(BacktestResult, document.get("result")),
            }
            | ({"optimization": outline_of(optimization)} if optimization else {})
        )


class OptimizeRequest(BacktestParams):
    """A backtest's params plus the sweep: every combination of the grid (or a random or
    TPE search's trials) runs over the same data, range and costs."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                BACKTEST_PARAMS_EXAMPLE
                | {
                    "sweep": {
                        "grid": {"fast": [5, 10, 15, 20], "slow": [20, 30, 40, 50]},
                        "constraint": "fast < slow",
                        "objective": "sharpe_ratio",
                    },
                },
                BACKTEST_PARAMS_EXAMPLE
                | {
                    "sweep": {
                        "method": "tpe",
                        "ranges": {
                            "fast": {"low": 2, "high": 50, "integer": True},
                            "slow": {"low": 10, "high": 200, "integer": True},
                        },
                        "constraint": "fast < slow",
                        "trials": 200,
                        "seed": 7,
                    },
                },
            ]
        }
    )

    sweep: Sweep
    validation: Validation | None = Field(
        default=None,
        description="Walk-forward windows: each is optimized on its train bars and its "
        "winner run on the test bars after them; the result is the test runs stitched.",
    )


class BacktestSummary(RunInputs):
    """A backtest in a list: its state and statistics, without trades or curve."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "0e6f1a52-3a8e-4c52-b2f1-7d4c9a0e5b21",
                    "strategy_id": "5b0d7c3e-8f0a-4c1e-9d55-2f7f3c1a9b10",
                    "status": "failed",
                    "progress": 12.5,
                    "params": {
                        "start_date": "2005-01-01T00:00:00Z",
                        "end_date": "2012-12-31T00:00:00Z",
                        "initial_capital": 10000,
                        "parameters": {"fast": 8},
                    },
                    "parameters": {"fast": 8, "slow": 30},
                    "created_at": "2026-11-30T09:13:02Z",
                    "error": "0 1d bar(s) of GOOG in the range: a backtest needs at least 2",
                    "statistics": None,
                    "cached": False,
                    "sweep": None,
                }
            ]
        }
    )

    id: str
    strategy_id: str
    status: BacktestStatus
    progress: float
    params: BacktestParams
    parameters: Parameters = Field(
        description="The parameter values it ran with: the strategy's when it started, "
        "with the params' overrides (an optimization's swept ones aside)."
    )
    best_parameters: Parameters | None = Field(
        default=None,
        description="An optimization's best combination, once completed: what its "
        "statistics come from (a walk-forward's change by window).",
    )
    created_at: datetime
    error: str | None
    statistics: BacktestStatistics | None = Field(
        description="For an optimization, the best combination's."
    )
    cached: bool = Field(
        default=False,
        description="True when answered with the stored result of an identical backtest.",
    )
    sweep: Sweep | None = Field(default=None, description="Set for an optimization.")
    validation: Validation | None = Field(
        default=None, description="Set for an optimization validated walk-forward."
    )


class SaveResultAck(BaseModel):
    stored: bool = Field(description="False when the backtest had already reached a final state.")
