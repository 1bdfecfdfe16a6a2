"""What produced a run, in words: its symbol, timeframe, range, parameters, rules,
orders, costs, sizing and data version, from what the backtest stored (the strategy as
it was, with the params' overrides). The report and the CSV exports start with it; the
dashboard's run_inputs.js says the same on the page."""

from __future__ import annotations

from backend.schemas import Backtest
from shared.contracts.backtests import ResolvedBacktest
from shared.contracts.strategies import Orders, Sizing
from shared.formatting import shown

__all__ = ["run_description"]


def run_description(backtest: Backtest) -> list[tuple[str, str]]:
    """(name, text) pairs, in the order they are shown."""
    params = backtest.params
    result = backtest.result
    lines: list[tuple[str, str]] = []
    resolved = ResolvedBacktest.resolve(backtest.strategy, params) if backtest.strategy else None
    symbol = result.symbol if result else (resolved.symbol if resolved else params.symbol)
    timeframe = result.timeframe if result else (resolved.timeframe if resolved else None)
    if params.portfolio is not None:
        basket = ", ".join(params.portfolio.symbols)
        lines.append(("Portfolio", f"{basket} {timeframe or ''}".strip()))
    else:
        lines.append(("Symbol", f"{symbol} {timeframe or ''}".strip()))
    start, end = (result.start, result.end) if result else (params.start_date, params.end_date)
    bars = f" ({shown('count', result.bars)} bars)" if result else ""
    lines.append(("Range", f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M}{bars}"))
    lines.append(("Initial capital", shown("money", params.initial_capital)))
    own = _assignments(resolved.parameters if resolved else params.parameters) or "none"
    lines.append(("Parameters", _parameters(backtest, own)))
    if backtest.sweep is not None:
        grid = backtest.sweep.grid
        swept = ", ".join(f"{name} ({len(values)} values)" for name, values in grid.items())
        lines.append(("Swept", f"{swept}, ranked by {backtest.sweep.objective.replace('_', ' ')}"))
    if resolved is not None:
        named = resolved.rules.named().items()
        rules = [f"{name}: {' '.join(text.split())}" for name, text in named]
        lines.append(("Rules", "; ".join(rules)))
        lines.append(("Orders", _orders(resolved.orders)))
        lines.append(("Sizing", _sizing(resolved.orders.sizing)))
        costs = resolved.costs
        lines.append(
            (
                "Costs",
                f"commission {shown('percent', costs.commission_pct)}, "
                f"fee {shown('money', costs.fee_per_fill)} per fill, "
                f"slippage {shown('percent', costs.slippage_pct)}",
            )
        )
    if backtest.data_version is not None:
        lines.append(("Data version", str(backtest.data_version)))
    if result is not None and result.cached:
        lines.append(("Served", "from the cache: the stored result of an identical earlier run"))
    return lines


def _parameters(backtest: Backtest, own: str) -> str:
    """The parameter values the run's numbers come from: a walk-forward's differ by
    window, an optimization's are its best combination's."""
    if backtest.validation is not None:
        return f"chosen by each window (see the windows); the strategy's own: {own}"
    if backtest.optimization is not None:
        best = _assignments(backtest.optimization.best_parameters)
        return f"the best: {best} (the strategy's own: {own})"
    return own


def _assignments(values: dict[str, float]) -> str:
    return ", ".join(f"{name}={value}" for name, value in values.items())


def _orders(orders: Orders) -> str:
    parts = ["fills at the next open" if orders.fill == "next_open" else "fills at the close"]
    exits = {
        "stop loss": orders.stop_loss_pct,
        "take profit": orders.take_profit_pct,
        "trailing stop": orders.trailing_stop_pct,
    }
    parts += [f"{name} {shown('percent', value)}" for name, value in exits.items() if value]
    return ", ".join(parts)


def _sizing(sizing: Sizing) -> str:
    if sizing.kind == "fraction_of_equity":
        return f"{shown('percent', sizing.value)} of equity per entry"
    if sizing.kind == "fixed_cash":
        return f"{shown('money', sizing.value)} per entry"
    return f"{sizing.value:g} units per entry"
