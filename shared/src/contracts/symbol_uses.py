"""What a refused symbol deletion lists: the strategies that backtest the symbol."""

from __future__ import annotations

from pydantic import BaseModel, Field

__all__ = ["StrategyUse"]


class StrategyUse(BaseModel):
    """A strategy that uses a symbol. Another member's is named, never identified."""

    name: str
    owner: str = Field(description="Its owner's name.")
    strategy_id: str | None = Field(
        default=None, description="The strategy's id: given for your own strategies only."
    )
