"""What a refused symbol deletion lists: the member's own strategies that backtest the
symbol (other members' are only counted, in the refusal's words)."""

from __future__ import annotations

from pydantic import BaseModel, Field

__all__ = ["StrategyUse"]


class StrategyUse(BaseModel):
    """A strategy of yours that uses a symbol."""

    name: str
    owner: str = Field(description="Its owner's name: yours.")
    strategy_id: str | None = Field(default=None, description="The strategy's id.")
