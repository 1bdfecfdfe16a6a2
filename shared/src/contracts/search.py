"""Searches beyond the grid (random and TPE over parameter ranges) and the numbers that
say how likely a sweep's winner is to be luck."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from shared.contracts.common import Count, WireModel
from shared.contracts.strategies import ParameterValue

__all__ = ["DeflatedSharpe", "Overfitting", "ParameterRange", "SearchMethod"]

SearchMethod = Literal["grid", "random", "tpe"]


class ParameterRange(WireModel):
    """Values from `low` to `high` (both included) a random or TPE search draws from:
    every real number between them, or only low, low + step, ... with `step`, or only
    whole numbers with `integer` (step 1 unless given)."""

    low: ParameterValue
    high: ParameterValue
    step: Annotated[ParameterValue, Field(gt=0)] | None = None
    integer: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.high < self.low:
            raise ValueError(f"high ({self.high:g}) is below low ({self.low:g})")
        if self.integer and not all(
            float(value).is_integer() for value in (self.low, self.high, self.step or 1)
        ):
            raise ValueError("an integer range needs whole-number low, high and step")
        return self

    def values_to_check(self) -> list[float]:
        """The values whose refusal by the rules would refuse the range: its ends, and
        a value between whole numbers when it can draw one."""
        ends = [self.low, self.high]
        if self.integer or (self.step is not None and float(self.step).is_integer()):
            return ends
        return [*ends, self.low + (self.high - self.low) / 2 + 1e-3]


class DeflatedSharpe(WireModel):
    """The Deflated Sharpe Ratio of the best combination (Bailey and Lopez de Prado,
    2014): the probability that its true Sharpe ratio is above the one the best of
    `trials` reaches by luck, given its returns' skew and kurtosis and their number."""

    value: float = Field(description="A probability: above 0.95, the best is unlikely luck.")
    sharpe: float = Field(description="The best's Sharpe ratio per bar (not annualised).")
    expected_max_sharpe: float = Field(
        description="The Sharpe ratio per bar the best of `trials` reaches by luck."
    )
    sharpe_variance: float = Field(description="The variance of the trials' Sharpe ratios.")
    trials: Count
    observations: Count = Field(description="The best's returns, one per bar.")
    skew: float
    kurtosis: float = Field(description="Not excess: 3 for normally distributed returns.")


class Overfitting(WireModel):
    """The Probability of Backtest Overfitting (Bailey, Borwein, Lopez de Prado and Zhu,
    2015) by combinatorially symmetric cross-validation over `blocks` blocks of bars."""

    value: float = Field(
        description="The share of the splits whose in-sample best (by Sharpe ratio) is "
        "out-of-sample no better than the median trial: near 0.5 or above, the winner "
        "is luck."
    )
    blocks: Count
    splits: Count
    trials: Count
