"""What a member asks of a backtest, and the backtest with every override applied."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.contracts.common import (
    EARLIEST_DATE,
    LATEST_DATE,
    Capital,
    InconsistentRequest,
    Symbol,
    WireModel,
    as_utc,
)
from shared.contracts.portfolios import Portfolio
from shared.contracts.strategies import (
    Costs,
    Orders,
    Parameters,
    Rules,
    StrategySnapshot,
    check_rules,
)
from shared.rules.checks import HistoryNeed, history_needed
from shared.rules.parser import parse_rule
from shared.timeframes import Timeframe

__all__ = ["BACKTEST_PARAMS_EXAMPLE", "ENGINE_VERSION", "BacktestParams", "ResolvedBacktest"]

# Raised whenever a change to the engine changes results, so none computed before is reused.
ENGINE_VERSION = 5


BACKTEST_PARAMS_EXAMPLE: dict[str, Any] = {
    "start_date": "2005-01-01T00:00:00Z",
    "end_date": "2012-12-31T00:00:00Z",
    "initial_capital": 10000,
    "parameters": {"fast": 8},
    "costs": {"commission_pct": 0.002},
}


class BacktestParams(WireModel):
    """What a member asks of one backtest; unset fields fall back to the strategy's."""

    model_config = ConfigDict(json_schema_extra={"examples": [BACKTEST_PARAMS_EXAMPLE]})

    start_date: datetime
    end_date: datetime
    initial_capital: Capital = 10_000.0
    timeframe: Timeframe | None = None
    symbol: Symbol | None = None
    parameters: Parameters = Field(
        default_factory=dict, description="Values replacing the strategy's, by name."
    )
    costs: Costs | None = None
    portfolio: Portfolio | None = Field(
        default=None, description="Run over this basket of symbols with one account."
    )

    @field_validator("parameters", mode="before")
    @classmethod
    def _null_is_not_overridden(cls, parameters: Any) -> Any:
        """Backtests stored by the first release list every parameter, null if kept."""
        if isinstance(parameters, dict):
            return {name: value for name, value in parameters.items() if value is not None}
        return parameters

    @field_validator("start_date", "end_date")
    @classmethod
    def _to_utc(cls, moment: datetime) -> datetime:
        try:
            moment = as_utc(moment)
        except OverflowError:
            raise ValueError("date out of range") from None
        if not EARLIEST_DATE <= moment <= LATEST_DATE:
            raise ValueError(f"dates must lie between {EARLIEST_DATE:%Y} and {LATEST_DATE:%Y}")
        return moment

    @model_validator(mode="after")
    def _range_is_forward(self) -> Self:
        if self.end_date <= self.start_date:
            raise ValueError("end_date must be after start_date")
        return self


class ResolvedBacktest(WireModel):
    """A backtest with every override applied: what the engine actually runs."""

    symbol: Symbol
    timeframe: Timeframe
    start_date: datetime
    end_date: datetime
    initial_capital: float
    parameters: Parameters
    rules: Rules
    orders: Orders
    costs: Costs

    @model_validator(mode="after")
    def _rules_parse(self) -> Self:
        check_rules(self.rules, self.parameters)
        return self

    def history_shortfall(
        self,
        bars: int,
        counted: str,
        trials: Sequence[Mapping[str, float]] = (),
        swept: Sequence[str] = (),
    ) -> str | None:
        """Why `bars` bars (`counted`: how they were counted, such as "at most ") are
        too few for a rule, naming the rule, its function and the bars it needs; None
        when every rule can have a value. `trials` as for `first_shortfall`, named by
        their `swept` parameters in the answer."""
        shortfall = self.first_shortfall(bars, trials)
        if shortfall is None:
            return None
        name, need, parameters = shortfall
        values = ", ".join(f"{swept_name}={parameters[swept_name]:g}" for swept_name in swept)
        return (
            f"rules.{name}: {need.function} needs {need.bars} {self.timeframe} bars "
            f"for a first value{f' with {values}' if values else ''}; {self.symbol} "
            f"has {counted}{bars} between {self.start_date:%Y-%m-%d %H:%M} and "
            f"{self.end_date:%Y-%m-%d %H:%M}"
        )

    def first_shortfall(
        self, bars: int, trials: Sequence[Mapping[str, float]] = ()
    ) -> tuple[str, HistoryNeed, Mapping[str, float]] | None:
        """The first rule needing more than `bars` bars for a first value: its name,
        what it needs and the parameters it needs it with, of `trials` (the complete
        parameter sets a sweep runs, or that bound them; the backtest's own when empty).
        None when every rule can have a value."""
        named = self.rules.named().items()
        rules = {name: parse_rule(text, self.parameters) for name, text in named}
        for parameters in trials or [self.parameters]:
            for name, rule in rules.items():
                need = history_needed(rule, parameters)
                if need is not None and need.bars > bars:
                    return name, need, parameters
        return None

    def input_key(self, data_version: int, sweep: BaseModel | None = None) -> str:
        """Identifies the work: equal keys give equal results, so a finished result can be
        reused. Changes whenever the engine's results would (ENGINE_VERSION)."""
        work = {
            "engine": ENGINE_VERSION,
            "data_version": data_version,
            **self.model_dump(mode="json"),
        }
        if sweep is not None:
            work["sweep"] = sweep.model_dump(mode="json")
        canonical = json.dumps(work, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    @classmethod
    def resolve(cls, strategy: StrategySnapshot, params: BacktestParams) -> ResolvedBacktest:
        """Apply the params' overrides to the strategy; raises ValueError if inconsistent."""
        unknown = sorted(set(params.parameters) - set(strategy.parameters))
        if unknown:
            raise InconsistentRequest(
                "parameters", f"the strategy has no parameter named {', '.join(unknown)}"
            )
        return cls(
            symbol=params.symbol or strategy.symbol,
            timeframe=params.timeframe or strategy.timeframe,
            start_date=params.start_date,
            end_date=params.end_date,
            initial_capital=params.initial_capital,
            parameters=strategy.parameters | params.parameters,
            rules=strategy.rules,
            orders=strategy.orders,
            costs=params.costs or strategy.costs,
        )
