"""Portfolios: one strategy's rules over a basket of symbols with one account, and what
such a run reports beside the usual statistics."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from shared.contracts.common import Count, Symbol, WireModel

__all__ = [
    "MAX_PORTFOLIO_SYMBOLS",
    "Portfolio",
    "PortfolioResult",
    "Rebalance",
    "SymbolContribution",
    "portfolio_input_key",
]

MAX_PORTFOLIO_SYMBOLS = 50
_WEIGHTS_SUM_TOLERANCE = 1e-9


class Rebalance(WireModel):
    """Every `every` bars of the portfolio's calendar (the union of its symbols' bars),
    or every `every` UTC days or weeks (weeks start on Monday)."""

    every: int = Field(ge=1, le=1_000_000)
    unit: Literal["bars", "days", "weeks"]


class Portfolio(WireModel):
    """The basket a backtest runs the strategy's rules over, with one account: each
    symbol's share of the equity is its weight (equal, or `weights` in the order of
    `symbols`), reset to the weights at every rebalance ("never": not at all)."""

    symbols: Annotated[list[Symbol], Field(min_length=1, max_length=MAX_PORTFOLIO_SYMBOLS)]
    weighting: Literal["equal", "fixed"] = "equal"
    weights: list[float] | None = Field(
        default=None,
        description="With weighting fixed: one positive weight per symbol, summing to 1.",
    )
    rebalance: Literal["never"] | Rebalance = "never"

    @model_validator(mode="after")
    def _weights_fit(self) -> Self:
        if len(set(self.symbols)) != len(self.symbols):
            raise ValueError("portfolio.symbols: each symbol may appear once")
        if self.weighting == "equal":
            if self.weights is not None:
                raise ValueError("portfolio.weights: give weights only with weighting 'fixed'")
            return self
        if self.weights is None or len(self.weights) != len(self.symbols):
            raise ValueError("portfolio.weights: weighting 'fixed' needs one weight per symbol")
        if any(not weight > 0 for weight in self.weights):
            raise ValueError("portfolio.weights: every weight must be positive")
        if abs(sum(self.weights) - 1) > _WEIGHTS_SUM_TOLERANCE:
            raise ValueError(f"portfolio.weights: they sum to {sum(self.weights):g}, not 1")
        return self

    def resolved_weights(self) -> list[float]:
        """Each symbol's weight, in the order of `symbols` (one symbol: exactly 1)."""
        if self.weights is not None:
            return list(self.weights)
        return [1 / len(self.symbols)] * len(self.symbols)


def portfolio_input_key(
    backtest_key: str, portfolio: Portfolio, data_versions: Mapping[str, int]
) -> str:
    """Identifies a portfolio's work as `ResolvedBacktest.input_key` does a backtest's:
    the backtest's own key (`backtest_key`), the basket, and every symbol's data version."""
    work = {
        "backtest": backtest_key,
        "portfolio": portfolio.model_dump(mode="json"),
        "data_versions": dict(sorted(data_versions.items())),
    }
    canonical = json.dumps(work, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class SymbolContribution(WireModel):
    """What one symbol brought to the portfolio."""

    symbol: Symbol
    weight: float
    bars: Count = Field(description="Bars of this symbol in the run's range.")
    trades: Count
    pnl: float = Field(description="The sum of its trades' pnl, in money.")
    return_contribution: float = Field(
        description="pnl over the initial capital: the symbols' contributions add up to "
        "the portfolio's total_return."
    )
    data_version: int | None = Field(default=None, description="Market-data version used.")


class PortfolioResult(WireModel):
    """A portfolio run's own part of its result; its statistics, curves and trades (each
    tagged with its symbol) are the result's."""

    weighting: Literal["equal", "fixed"]
    rebalance: Literal["never"] | Rebalance
    rebalances: Count = Field(description="How many times the shares were reset.")
    symbols: list[SymbolContribution]
    correlation: list[list[float | None]] = Field(
        description="correlation[i][j]: the correlation of the per-bar returns of symbol "
        "i's share of the account with symbol j's, over the portfolio's calendar; null "
        "where a share never changed."
    )
