"""A strategy as it travels: rules, parameters, orders and costs."""

from __future__ import annotations

import re
from typing import Annotated, Literal, Self

from pydantic import AfterValidator, Field, StrictFloat, StrictInt, model_validator
from pydantic_core import PydanticCustomError

from shared.contracts.common import MAX_CAPITAL, Id, Number, Symbol, Text, WireModel
from shared.rules.checks import check_parameter_values
from shared.rules.parser import MAX_RULE_CHARS, RESERVED_NAMES, RuleError, parse_rule
from shared.timeframes import Timeframe

__all__ = [
    "DEFAULT_PARAMETERS",
    "Costs",
    "Orders",
    "ParameterName",
    "ParameterValue",
    "Parameters",
    "RuleText",
    "Rules",
    "RulesRefused",
    "Sizing",
    "StrategySnapshot",
    "check_rules",
]

_PARAMETER_NAME = r"^[a-z_][a-z0-9_]{0,31}$"


def _parameter_name(name: str) -> str:
    if re.fullmatch(_PARAMETER_NAME, name, re.ASCII) is None:
        raise PydanticCustomError(  # the name itself is in the error's place (`loc`)
            "parameter_name",
            "a parameter's name is 1 to 32 lower-case letters (a-z), digits and _, not "
            "starting with a digit",
        )
    return name


ParameterName = Annotated[
    str,
    AfterValidator(_parameter_name),
    Field(
        description="Lower case letters, digits and _, not starting with a digit.",
        json_schema_extra={"pattern": _PARAMETER_NAME, "minLength": 1, "maxLength": 32},
    ),
]
# A whole number stays one (`"fast": 14` comes back as 14, not 14.0).
ParameterValue = Annotated[StrictInt | StrictFloat, Field(ge=-1e9, le=1e9)]
Parameters = Annotated[dict[ParameterName, ParameterValue], Field(max_length=20)]
RuleText = Annotated[str, Field(min_length=1, max_length=MAX_RULE_CHARS)]


def check_rules(rules: Rules, parameters: dict[str, float]) -> None:
    """RulesRefused naming every rule that does not parse with these parameters, with
    each of its problems, or the parameter whose value cannot serve where a rule uses
    it as a period."""
    named = rules.named()
    if "long_entry" not in named and "short_entry" not in named:
        raise RulesRefused("a strategy needs a long_entry or a short_entry rule")
    clashes = sorted(set(parameters) & RESERVED_NAMES)
    if clashes:
        raise RulesRefused(f"parameter names clash with the rule language: {', '.join(clashes)}")
    problems = []
    for name, text in named.items():
        try:
            check_parameter_values(parse_rule(text, parameters), parameters)
        except (RuleError, ValueError) as error:
            problems.append(f"rules.{name}: {error}")
    if problems:
        raise RulesRefused("; ".join(problems))


class RulesRefused(PydanticCustomError):
    """Rules that cannot be used, said in words: a validator raising it reports its
    message as it is (a ValueError would come out as "Value error, ...")."""

    def __new__(cls, message: str) -> RulesRefused:
        return super().__new__(cls, "rules", "{problems}", {"problems": message})


class Costs(WireModel):
    """Trading costs charged on every fill."""

    commission_pct: Number = Field(
        default=0.001, ge=0, le=0.1, description="Fraction of the traded value, per fill."
    )
    fee_per_fill: Number = Field(
        default=0.0, ge=0, le=1e6, description="A fixed amount of money, per fill."
    )
    slippage_pct: Number = Field(
        default=0.0, ge=0, le=0.1, description="Fill prices move this fraction against you."
    )


class Sizing(WireModel):
    """How much each entry buys (or sells short)."""

    kind: Literal["fraction_of_equity", "fixed_cash", "fixed_units"] = "fraction_of_equity"
    value: Number = Field(
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
    stop_loss_pct: Number | None = Field(
        default=None, gt=0, lt=1, description="Exit this fraction below (short: above) entry."
    )
    take_profit_pct: Number | None = Field(
        default=None, gt=0, le=100, description="Exit this fraction above (short: below) entry."
    )
    trailing_stop_pct: Number | None = Field(
        default=None,
        gt=0,
        lt=1,
        description="Exit this fraction below the highest high since entry (short: above "
        "the lowest low).",
    )


DEFAULT_PARAMETERS: dict[str, int | float] = {"fast": 10, "slow": 30}


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
