"""The wire contract between backend and backend_services.

Every model that crosses the HTTP boundary between the two services is defined here,
once, and imported by both sides. Fractions are plain floats (0.05 means 5 %), times are
timezone-aware UTC datetimes, money is in the quote currency of the symbol.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, Self

import numpy as np
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from backend_services.rules.evaluate import (
    check_period_values,
    constraint_mask,
    is_period,
    parameters_used_as_periods,
)
from backend_services.rules.parser import (
    MAX_RULE_CHARS,
    RESERVED_NAMES,
    RuleError,
    parse_constraint,
    parse_rule,
)
from backend_services.timeframes import Timeframe

# Raised whenever a change to the engine changes results, so none computed before is reused.
ENGINE_VERSION = 3


def _storable(text: str) -> str:
    """BSON stores UTF-8: a lone surrogate (valid in JSON escapes) cannot be stored."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text must be valid Unicode (no lone surrogates)") from None
    return text


Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")]
Symbol = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9._\-]+$")]
Text = Annotated[str, Field(max_length=2_000), AfterValidator(_storable)]
ParameterName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=32,
        pattern=r"^[a-z_][a-z0-9_]*$",
        description="Lower case letters, digits and _, not starting with a digit.",
    ),
]
ParameterValue = Annotated[float, Field(ge=-1e9, le=1e9)]
Parameters = Annotated[dict[ParameterName, ParameterValue], Field(max_length=20)]
RuleText = Annotated[str, Field(min_length=1, max_length=MAX_RULE_CHARS)]
Count = Annotated[int, Field(ge=0, le=10**12)]
MAX_CAPITAL = 1e12
EARLIEST_DATE = datetime(1900, 1, 1, tzinfo=UTC)
LATEST_DATE = datetime(2200, 1, 1, tzinfo=UTC)


class ExecutionStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATUSES


FINAL_STATUSES = frozenset(
    {ExecutionStatus.COMPLETED, ExecutionStatus.FAILED, ExecutionStatus.CANCELLED}
)


def check_rules(rules: Rules, parameters: dict[str, float]) -> None:
    """ValueError naming the first rule that does not parse with these parameters, or the
    parameter whose value cannot serve where a rule uses it as a period."""
    named = rules.named()
    if "long_entry" not in named and "short_entry" not in named:
        raise ValueError("a strategy needs a long_entry or a short_entry rule")
    clashes = sorted(set(parameters) & RESERVED_NAMES)
    if clashes:
        raise ValueError(f"parameter names clash with the rule language: {', '.join(clashes)}")
    for name, text in named.items():
        try:
            check_period_values(parse_rule(text, parameters), parameters)
        except (RuleError, ValueError) as error:
            raise ValueError(f"rules.{name}: {error}") from None


def check_sweep(sweep: Sweep, backtest: ResolvedBacktest) -> int:
    """The number of combinations a sweep runs over the backtest; ValueError if it names
    an unknown parameter, has a value the rules cannot use or keeps no combination."""
    count = len(sweep.combinations(backtest.parameters))
    periods = set().union(
        *(
            parameters_used_as_periods(parse_rule(text, backtest.parameters))
            for text in backtest.rules.named().values()
        )
    )
    for name in sorted(periods & sweep.grid.keys()):
        wrong = next((value for value in sweep.grid[name] if not is_period(value)), None)
        if wrong is not None:  # the rules' own check says which rule and why
            try:
                check_rules(backtest.rules, backtest.parameters | {name: wrong})
            except ValueError as error:
                raise ValueError(f"sweep.grid.{name}: {error}") from None
    if count == 0:
        raise ValueError("sweep.constraint: no combination of the grid satisfies it")
    return count


def as_utc(moment: datetime) -> datetime:
    """Read a naive datetime as UTC and convert an aware one to UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


class WireModel(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Costs(WireModel):
    """Trading costs charged on every fill."""

    commission_pct: float = Field(
        default=0.001, ge=0, le=0.1, description="Fraction of the traded value, per fill."
    )
    fee_per_fill: float = Field(
        default=0.0, ge=0, le=1e6, description="A fixed amount of money, per fill."
    )
    slippage_pct: float = Field(
        default=0.0, ge=0, le=0.1, description="Fill prices move this fraction against you."
    )


class Sizing(WireModel):
    """How much each entry buys (or sells short)."""

    kind: Literal["fraction_of_equity", "fixed_cash", "fixed_units"] = "fraction_of_equity"
    value: float = Field(
        default=1.0,
        gt=0,
        le=MAX_CAPITAL,
        description="The fraction (at most 1), the cash, or the units.",
    )

    @model_validator(mode="after")
    def _fraction_at_most_one(self) -> Self:
        if self.kind == "fraction_of_equity" and self.value > 1:
            raise ValueError("a fraction of equity is at most 1")
        return self


class Orders(WireModel):
    """How signals become orders: fills, size, and the exits that are not rules."""

    fill: Literal["next_open", "close"] = Field(
        default="next_open",
        description="A signal on a bar's close fills at the next open, or at that close.",
    )
    sizing: Sizing = Field(default_factory=Sizing)
    stop_loss_pct: float | None = Field(
        default=None, gt=0, lt=1, description="Exit this fraction below (short: above) entry."
    )
    take_profit_pct: float | None = Field(
        default=None, gt=0, le=100, description="Exit this fraction above (short: below) entry."
    )
    trailing_stop_pct: float | None = Field(
        default=None,
        gt=0,
        lt=1,
        description="Exit this fraction below the highest high since entry (short: above "
        "the lowest low).",
    )


DEFAULT_PARAMETERS = {"fast": 10.0, "slow": 30.0}


class Rules(WireModel):
    """When to enter and leave, in the rule language; a missing rule never fires."""

    long_entry: RuleText | None = "crossover(sma(close, fast), sma(close, slow))"
    long_exit: RuleText | None = "crossunder(sma(close, fast), sma(close, slow))"
    short_entry: RuleText | None = None
    short_exit: RuleText | None = None

    def named(self) -> dict[str, str]:
        """The rules that are set, by name."""
        return {name: text for name, text in self.model_dump().items() if text is not None}


class StrategySnapshot(WireModel):
    """The strategy exactly as it was when a backtest was submitted."""

    id: Id
    name: Text
    symbol: Symbol
    timeframe: Timeframe
    parameters: Parameters = Field(default_factory=lambda: dict(DEFAULT_PARAMETERS))
    rules: Rules = Field(default_factory=Rules)
    orders: Orders = Field(default_factory=Orders)
    costs: Costs

    @model_validator(mode="after")
    def _rules_parse(self) -> Self:
        check_rules(self.rules, self.parameters)
        return self


class BacktestParams(WireModel):
    """What a member asks of one backtest; unset fields fall back to the strategy's."""

    start_date: datetime
    end_date: datetime
    initial_capital: float = Field(default=10_000.0, gt=0, le=MAX_CAPITAL)
    timeframe: Timeframe | None = None
    symbol: Symbol | None = None
    parameters: Parameters = Field(
        default_factory=dict, description="Values replacing the strategy's, by name."
    )
    costs: Costs | None = None

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

    def input_key(self, data_version: int, sweep: Sweep | None = None) -> str:
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
            raise ValueError(f"the strategy has no parameter named {', '.join(unknown)}")
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


MAX_COMBINATIONS = 10_000
MAX_SWEPT_PARAMETERS = 5
Objective = Literal[
    "total_return",
    "cagr",
    "sharpe_ratio",
    "sortino_ratio",
    "calmar_ratio",
    "max_drawdown",
    "profit_factor",
    "win_rate",
    "expectancy",
    "sqn",
    "final_equity",
]


class Sweep(WireModel):
    """A grid of parameter values tried in one execution and ranked by `objective`, the
    higher the better (max_drawdown is negative: the shallowest ranks first)."""

    grid: Annotated[
        dict[
            ParameterName,
            Annotated[list[ParameterValue], Field(min_length=1, max_length=MAX_COMBINATIONS)],
        ],
        Field(min_length=1, max_length=MAX_SWEPT_PARAMETERS),
    ] = Field(description="The values to try, by parameter; every combination is run.")
    constraint: RuleText | None = Field(
        default=None,
        description="A condition on parameter values, such as 'fast < slow': combinations "
        "for which it is false are left out.",
    )
    objective: Objective = "sharpe_ratio"

    @model_validator(mode="after")
    def _bounded(self) -> Self:
        self.grid = {name: sorted(set(values)) for name, values in self.grid.items()}
        if self.grid_size > MAX_COMBINATIONS:
            raise ValueError(
                f"the grid has {self.grid_size} combinations, at most {MAX_COMBINATIONS}"
            )
        return self

    @property
    def grid_size(self) -> int:
        """Combinations in the grid, before the constraint."""
        return math.prod(len(values) for values in self.grid.values())

    def combinations(self, parameters: Mapping[str, float]) -> list[dict[str, float]]:
        """Every combination the constraint keeps, in grid order, as complete parameter
        sets: `parameters` with the swept ones replaced. Raises ValueError if the grid
        or the constraint names a parameter not in `parameters` (`check_sweep` also
        checks the values against the rules)."""
        unknown = sorted(set(self.grid) - set(parameters))
        if unknown:
            raise ValueError(
                f"sweep.grid: the strategy has no parameter named {', '.join(unknown)}"
            )
        names = list(self.grid)
        rows = list(itertools.product(*self.grid.values()))
        if self.constraint is not None:
            try:
                constraint = parse_constraint(self.constraint, parameters)
            except RuleError as error:
                raise ValueError(f"sweep.constraint: {error}") from None
            values = np.array(rows, dtype=np.float64).reshape(len(rows), len(names))
            columns = dict(parameters) | {name: values[:, i] for i, name in enumerate(names)}
            kept = constraint_mask(constraint, columns, len(rows))
            rows = [row for row, keep in zip(rows, kept.tolist(), strict=True) if keep]
        return [dict(parameters) | dict(zip(names, row, strict=True)) for row in rows]


class SweepRow(WireModel):
    """One combination of a sweep: the swept parameters' values and its main statistics."""

    parameters: dict[ParameterName, float]
    objective: float | None = Field(description="The value of the sweep's objective.")
    total_return: float
    cagr: float
    sharpe_ratio: float | None
    sortino_ratio: float | None
    max_drawdown: float
    total_trades: Count
    win_rate: float | None
    profit_factor: float | None


class Heatmap(WireModel):
    """The objective over the first swept parameter (`x`) and the second (`y`, null when
    one is swept): `values[i][j]` belongs to y_values[i] and x_values[j], the best over
    any further swept parameters, null where no combination ran (the constraint left it
    out) or the objective is undefined."""

    x: ParameterName
    x_values: list[float]
    y: ParameterName | None
    y_values: list[float]
    values: list[list[float | None]]


class Optimization(WireModel):
    """The outcome of a sweep. The execution's `result` is the full backtest of
    `best_parameters`, trades and curves included."""

    objective: Objective
    combinations: Count = Field(description="Combinations run.")
    excluded: Count = Field(description="Combinations the constraint left out.")
    best_parameters: Parameters
    ranked: list[SweepRow] = Field(description="Best first; undefined objectives last.")
    heatmap: Heatmap


class RunBacktestRequest(WireModel):
    backtest_id: Id
    user_id: Id
    strategy: StrategySnapshot
    params: BacktestParams
    priority: int = Field(default=5, ge=0, le=9)
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

    @model_validator(mode="after")
    def _sweep_fits_strategy(self) -> Self:
        if self.sweep is not None:
            check_sweep(self.sweep, ResolvedBacktest.resolve(self.strategy, self.params))
        return self


class RunBacktestAccepted(WireModel):
    execution_id: Id
    status: ExecutionStatus


class Trade(WireModel):
    side: Literal["long", "short"]
    entry_time: datetime
    exit_time: datetime
    entry_price: float
    exit_price: float
    size: float = Field(description="Units held.")
    pnl: float = Field(description="Profit in money, after costs.")
    return_fraction: float = Field(description="pnl divided by the money put in at entry.")
    exit_reason: Literal["signal", "stop_loss", "take_profit", "trailing_stop", "end_of_data"]
    bars_held: Count


class TradePage(WireModel):
    """Trades offset .. offset + len(trades) - 1 of a completed backtest's `total`."""

    total: Count
    offset: Count
    trades: list[Trade]


class EquityCurve(WireModel):
    """Curves at chosen bars' closes, as columns of equal length: compact on the wire and
    in MongoDB, and quick to validate. `equity` is the account value, `drawdown` its fall
    from the running peak (0 or negative), `buy_and_hold` what the initial capital put in
    the asset at the first close would be worth."""

    time: list[datetime]
    equity: list[float]
    # Empty in results stored before these curves were part of one.
    drawdown: list[float] = Field(default_factory=list)
    buy_and_hold: list[float] = Field(default_factory=list)

    @model_validator(mode="after")
    def _columns_match(self) -> Self:
        lengths = {len(self.time), len(self.equity)}
        lengths |= {len(column) for column in (self.drawdown, self.buy_and_hold) if column}
        if len(lengths) > 1:
            raise ValueError("time, equity, drawdown and buy_and_hold must have the same length")
        return self


class BacktestStatistics(WireModel):
    """The numbers of one backtest, defined in services/backtest/metrics.py. Fractions,
    not percents. Ratios that are undefined for a run (a Sharpe ratio without variance,
    a profit factor without a losing trade) are null rather than infinite. Statistics
    added since the first release (those with a default) are null in results stored
    before them.
    """

    duration_days: float | None = Field(
        default=None, description="From the first bar's open time to the last's."
    )
    final_equity: float
    equity_peak: float | None = None
    total_return: float
    buy_and_hold_return: float
    cagr: float
    volatility: float = Field(description="Annualised standard deviation of bar returns.")
    sharpe_ratio: float | None
    sortino_ratio: float | None
    calmar_ratio: float | None = None
    max_drawdown: float = Field(le=0, description="Deepest fall from a peak, negative.")
    average_drawdown: float | None = Field(
        default=None, le=0, description="Average depth of the drawdowns."
    )
    max_drawdown_duration_bars: Count
    average_drawdown_duration_bars: float | None = None
    exposure: float = Field(description="Fraction of bars with a position open.")
    total_trades: Count
    win_rate: float | None
    profit_factor: float | None
    best_trade: float | None
    worst_trade: float | None
    average_trade: float | None
    max_trade_duration_bars: Count | None = None
    average_trade_duration_bars: float | None = None
    expectancy: float | None = Field(description="Average pnl per trade, in money.")
    sqn: float | None = Field(default=None, description="System quality number.")
    trading_days_per_year: Literal[252, 365] | None = Field(
        default=None,
        description="365 when a fifth of the bars or more fall on weekends (a market "
        "that never closes), else 252.",
    )
    periods_per_year: float = Field(description="Bars per year used to annualise.")


class BacktestResult(BacktestStatistics):
    """A finished backtest: what ran, its statistics, its trades and equity curve."""

    strategy_id: Id
    symbol: Symbol
    timeframe: Timeframe
    start: datetime
    end: datetime
    bars: Count
    initial_capital: float
    trades: list[Trade] = Field(
        description="The first 1,000 trades; total_trades says how many there are, and "
        "all of them are read in pages from the backtest's trades endpoint."
    )
    equity_curve: EquityCurve
    data_version: int | None = Field(default=None, description="Market-data version used.")
    cached: bool = Field(
        default=False,
        description="True when this is the stored result of an identical earlier backtest "
        "(same strategy, parameters and market-data version), not computed again.",
    )


class BacktestExecution(WireModel):
    """One run on the compute service: the single truth of its state."""

    id: Id
    backtest_id: Id
    user_id: Id
    strategy_id: Id
    status: ExecutionStatus
    progress: float = Field(ge=0, le=100)
    created_at: datetime
    start_time: datetime | None = None
    end_time: datetime | None = None
    attempts: Count = 0
    result: BacktestResult | None = None
    optimization: Optimization | None = None
    error: Text | None = None

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> BacktestExecution:
        fields = {name: document.get(name) for name in cls.model_fields if name != "id"}
        return cls.model_validate({**fields, "id": document["_id"]})


class ExecutionReport(WireModel):
    """Body of `POST /api/backtest/save_result`: an execution's final state."""

    execution_id: Id
    backtest_id: Id
    status: ExecutionStatus
    end_time: datetime | None = None
    result: BacktestResult | None = None
    optimization: Optimization | None = None
    error: Text | None = None

    @model_validator(mode="after")
    def _is_final(self) -> Self:
        if not self.status.is_final:
            raise ValueError("only a final status can be reported")
        if self.status is ExecutionStatus.COMPLETED and self.result is None:
            raise ValueError("a completed execution must carry its result")
        return self

    @classmethod
    def of(cls, execution: BacktestExecution) -> ExecutionReport:
        return cls(
            execution_id=execution.id,
            backtest_id=execution.backtest_id,
            status=execution.status,
            end_time=execution.end_time,
            result=execution.result,
            optimization=execution.optimization,
            error=execution.error,
        )


def utc_now() -> datetime:
    """The current UTC time at millisecond precision, the precision BSON stores."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)
