"""Parameter sweeps: the grid a member asks for and the ranking it gives."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal, Self

import numpy as np
from pydantic import Field, field_validator, model_validator

from shared.contracts.backtests import ResolvedBacktest
from shared.contracts.common import Count, InconsistentRequest, WireModel
from shared.contracts.search import DeflatedSharpe, Overfitting, ParameterRange, SearchMethod
from shared.contracts.strategies import (
    ParameterName,
    Parameters,
    ParameterValue,
    RulesRefused,
    RuleText,
    check_rules,
)
from shared.rules.checks import constraint_mask, parameters_as_arguments
from shared.rules.functions import Argument
from shared.rules.parser import Node, RuleError, parse_constraint, parse_rule

__all__ = [
    "MAX_COMBINATIONS",
    "MAX_SWEPT_PARAMETERS",
    "Heatmap",
    "Objective",
    "Optimization",
    "RankedTable",
    "Sweep",
    "SweepRow",
    "check_sweep",
]


def check_sweep(sweep: Sweep, backtest: ResolvedBacktest) -> int:
    """The number of combinations a sweep runs over the backtest (a search's trials);
    InconsistentRequest if it names an unknown parameter, has a value the rules cannot
    use or keeps none."""
    count = sweep.trials or len(sweep.combinations(backtest.parameters))
    sweep.constraint_of(backtest.parameters)
    values = {name: list(values) for name, values in sweep.grid.items()}
    for name, span in sweep.ranges.items():
        values[name] = span.values_to_check()
    arguments: dict[str, list[Argument]] = {}
    for text in backtest.rules.named().values():
        for name, used in parameters_as_arguments(parse_rule(text, backtest.parameters)).items():
            arguments.setdefault(name, []).extend(used)
    for name in sorted(arguments.keys() & values.keys()):
        wrong = next(
            (
                value
                for value in values[name]
                if any(argument.refusal(value) for argument in arguments[name])
            ),
            None,
        )
        if wrong is not None:  # the rules' own check says which rule and why
            field = "grid" if name in sweep.grid else "ranges"
            try:
                check_rules(backtest.rules, backtest.parameters | {name: wrong})
            except RulesRefused as error:
                raise InconsistentRequest(
                    "sweep", f"sweep.{field}.{name}: {error.message()}"
                ) from None
    if count == 0:
        raise InconsistentRequest(
            "sweep", "sweep.constraint: no combination of the grid satisfies it"
        )
    return count


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
    higher the better (max_drawdown is negative: the shallowest ranks first). With
    `method` random or tpe, `trials` combinations drawn from `ranges` (and from the
    values `grid` lists, as choices) instead: at random, or each guided by the trials
    before it (Optuna's Tree-structured Parzen Estimator), reproducibly for a `seed`."""

    method: SearchMethod = Field(
        default="grid", description="grid: every combination; random or tpe: `trials` of them."
    )

    grid: Annotated[
        dict[
            ParameterName,
            Annotated[list[ParameterValue], Field(min_length=1, max_length=MAX_COMBINATIONS)],
        ],
        Field(max_length=MAX_SWEPT_PARAMETERS),
    ] = Field(
        default_factory=dict,
        description="The values to try, by parameter; on a grid every combination is run.",
    )
    ranges: Annotated[
        dict[ParameterName, ParameterRange], Field(max_length=MAX_SWEPT_PARAMETERS)
    ] = Field(default_factory=dict, description="A random or tpe search's ranges, by parameter.")
    trials: int | None = Field(
        default=None,
        ge=1,
        le=MAX_COMBINATIONS,
        description="A random or tpe search's budget: the combinations it runs.",
    )
    seed: int = Field(
        default=0, ge=0, le=2**32 - 1, description="The same seed draws the same trials."
    )
    constraint: RuleText | None = Field(
        default=None,
        description="A condition on parameter values, such as 'fast < slow': combinations "
        "for which it is false are left out.",
    )
    objective: Objective = "sharpe_ratio"

    @model_validator(mode="after")
    def _bounded(self) -> Self:
        self.grid = {name: sorted(set(values)) for name, values in self.grid.items()}
        _check_method(self)
        if self.method == "grid" and self.grid_size > MAX_COMBINATIONS:
            raise ValueError(
                f"the grid has {self.grid_size} combinations, at most {MAX_COMBINATIONS}"
            )
        return self

    @property
    def swept(self) -> list[str]:
        """The swept parameters: the grid's, then the ranges'."""
        return [*self.grid, *self.ranges]

    @property
    def grid_size(self) -> int:
        """Combinations in the grid, before the constraint."""
        return math.prod(len(values) for values in self.grid.values())

    def combinations(self, parameters: Mapping[str, float]) -> list[dict[str, float]]:
        """Every combination the constraint keeps, in grid order, as complete parameter
        sets: `parameters` with the swept ones replaced. Raises InconsistentRequest if the grid
        or the constraint names a parameter not in `parameters` (`check_sweep` also
        checks the values against the rules)."""
        constraint = self.constraint_of(parameters)
        names = list(self.grid)
        rows = list(itertools.product(*self.grid.values()))
        if constraint is not None:
            values = np.array(rows, dtype=np.float64).reshape(len(rows), len(names))
            columns = dict(parameters) | {name: values[:, i] for i, name in enumerate(names)}
            kept = constraint_mask(constraint, columns, len(rows))
            rows = [row for row, keep in zip(rows, kept.tolist(), strict=True) if keep]
        return [dict(parameters) | dict(zip(names, row, strict=True)) for row in rows]

    def bounding_trials(self, parameters: Mapping[str, float]) -> list[dict[str, float]]:
        """The complete parameter sets whose needs bound every trial's: a grid's
        combinations, or for a search each grid value with each range at its ends
        (the constraint applied to both)."""
        if self.method == "grid":
            return self.combinations(parameters)
        constraint = self.constraint_of(parameters)
        values = {name: list(values) for name, values in self.grid.items()}
        values |= {name: span.values_to_check() for name, span in self.ranges.items()}
        trials = (
            dict(parameters) | dict(zip(values, row, strict=True))
            for row in itertools.product(*values.values())
        )
        return [trial for trial in trials if self.keeps(constraint, trial)]

    def constraint_of(self, parameters: Mapping[str, float]) -> Node | None:
        """The parsed constraint; InconsistentRequest if it, the grid or the ranges name
        a parameter not in `parameters`."""
        for field, names in (("grid", self.grid), ("ranges", self.ranges)):
            unknown = sorted(set(names) - set(parameters))
            if unknown:
                raise InconsistentRequest(
                    "sweep",
                    f"sweep.{field}: the strategy has no parameter named {', '.join(unknown)}",
                )
        if self.constraint is None:
            return None
        try:
            return parse_constraint(self.constraint, parameters)
        except RuleError as error:
            raise InconsistentRequest("sweep", f"sweep.constraint: {error}") from None

    def keeps(self, constraint: Node | None, parameters: Mapping[str, float]) -> bool:
        """Whether the constraint keeps one complete parameter set."""
        if constraint is None:
            return True
        return bool(constraint_mask(constraint, parameters, 1)[0])


def _check_method(sweep: Sweep) -> None:
    """A grid lists values; a search also draws from ranges, within a trial budget."""
    both = sorted(set(sweep.grid) & set(sweep.ranges))
    if both:
        raise ValueError(f"{', '.join(both)} is both in the grid and in the ranges")
    if len(sweep.swept) > MAX_SWEPT_PARAMETERS:
        raise ValueError(f"at most {MAX_SWEPT_PARAMETERS} parameters are swept")
    if sweep.method == "grid":
        if sweep.ranges or sweep.trials is not None:
            raise ValueError("ranges and trials are for random and tpe searches")
        if not sweep.grid:
            raise ValueError("a grid sweep needs at least one parameter in its grid")
    else:
        if sweep.trials is None:
            raise ValueError(f"a {sweep.method} search needs its number of trials")
        if not sweep.swept:
            raise ValueError(f"a {sweep.method} search needs ranges or grid values")


class SweepRow(WireModel):
    """One combination of a sweep: the swept parameters' values and its main statistics."""

    parameters: dict[ParameterName, ParameterValue]
    objective: float | None = Field(description="The value of the sweep's objective.")
    total_return: float
    cagr: float
    sharpe_ratio: float | None
    sortino_ratio: float | None
    max_drawdown: float
    total_trades: Count
    win_rate: float | None
    profit_factor: float | None


class RankedTable(WireModel):
    """A sweep's rows as columns, best first: row k is `parameters[name][k]` for each
    swept name and `objective[k]`, `total_return[k]`, ... A 10,000-combination ranking is
    a dozen arrays, not 10,000 small documents: an order of magnitude cheaper to store
    in MongoDB, read back, check and send, which is where a big sweep's last seconds went."""

    parameters: dict[ParameterName, list[ParameterValue]]
    objective: list[float | None]
    total_return: list[float]
    cagr: list[float]
    sharpe_ratio: list[float | None]
    sortino_ratio: list[float | None]
    max_drawdown: list[float]
    total_trades: list[Count]
    win_rate: list[float | None]
    profit_factor: list[float | None]

    @classmethod
    def of_rows(cls, rows: Sequence[SweepRow]) -> RankedTable:
        names = list(rows[0].parameters) if rows else []
        columns: dict[str, Any] = {
            name: [getattr(row, name) for row in rows] for name in _STATISTIC_COLUMNS
        }
        parameters = {name: [row.parameters[name] for row in rows] for name in names}
        return cls.model_validate(columns | {"parameters": parameters})

    def __len__(self) -> int:
        return len(self.objective)

    def row_dicts(self, start: int = 0, stop: int | None = None) -> list[dict[str, Any]]:
        """Rows start..stop-1 as SweepRow's fields."""
        span = range(len(self))[start:stop]
        statistics = {name: getattr(self, name) for name in _STATISTIC_COLUMNS}
        return [
            {"parameters": {name: values[k] for name, values in self.parameters.items()}}
            | {name: column[k] for name, column in statistics.items()}
            for k in span
        ]

    def rows(self, start: int = 0, stop: int | None = None) -> list[SweepRow]:
        return [SweepRow.model_validate(row) for row in self.row_dicts(start, stop)]


_STATISTIC_COLUMNS = [name for name in SweepRow.model_fields if name != "parameters"]


class Heatmap(WireModel):
    """The objective over the first swept parameter (`x`) and the second (`y`, null when
    one is swept): `values[i][j]` belongs to y_values[i] and x_values[j], the best over
    any further swept parameters, null where no combination ran (the constraint left it
    out) or the objective is undefined. A search's axes are the values its trials took,
    or past 50 of them 50 equal bins, each named by its centre."""

    x: ParameterName
    x_values: list[ParameterValue]
    y: ParameterName | None
    y_values: list[ParameterValue]
    values: list[list[float | None]]


class Optimization(WireModel):
    """The outcome of a sweep. The execution's `result` is the full backtest of
    `best_parameters`, trades and curves included."""

    objective: Objective
    method: SearchMethod = "grid"
    combinations: Count = Field(description="Combinations run (a search's trials).")
    excluded: Count = Field(description="Combinations the constraint left out.")
    best_parameters: Parameters
    ranked: RankedTable = Field(description="Best first; undefined objectives last.")
    heatmap: Heatmap
    trial_objectives: list[float | None] | None = Field(
        default=None, description="A random or tpe search's objective by trial, in run order."
    )
    deflated_sharpe: DeflatedSharpe | None = Field(
        default=None, description="Of the best; null when its returns do not vary."
    )
    pbo: Overfitting | None = Field(
        default=None,
        description="The probability of backtest overfitting; null with one combination "
        "or too few bars.",
    )

    @field_validator("ranked", mode="before")
    @classmethod
    def _rows_stored_before(cls, ranked: Any) -> Any:
        """Optimizations stored before the ranking became columns held a list of rows."""
        if isinstance(ranked, list):
            return RankedTable.of_rows([SweepRow.model_validate(row) for row in ranked])
        return ranked
