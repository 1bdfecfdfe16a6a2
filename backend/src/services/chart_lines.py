"""The indicator lines a backtest's price chart draws: the series its rules use, with
the parameters it ran with (for an optimization, the best combination's)."""

from __future__ import annotations

from backend.schemas import Backtest
from shared.contracts.backtests import ResolvedBacktest
from shared.contracts.strategies import StrategySnapshot
from shared.rules.lines import indicator_lines

__all__ = ["chart_lines"]


def chart_lines(strategy: StrategySnapshot, backtest: Backtest) -> list[str]:
    parameters = dict(ResolvedBacktest.resolve(strategy, backtest.params).parameters)
    if backtest.optimization is not None:
        parameters |= backtest.optimization.best_parameters
    return indicator_lines(strategy.rules.named(), parameters)
