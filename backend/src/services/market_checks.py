"""Whether the stored market data can serve a backtest, read from the catalog."""

from __future__ import annotations

from datetime import timedelta

from pymongo.asynchronous.database import AsyncDatabase

from shared.contracts.backtests import ResolvedBacktest
from shared.contracts.sweeps import Sweep
from shared.errors import InvalidInput
from shared.market_data.catalog import SymbolEntry, find_symbol, list_symbols
from shared.mongo import Document
from shared.timeframes import TIMEFRAME_SECONDS, Timeframe

__all__ = ["check_data_for", "check_market", "range_note"]

# How many stored symbols a refusal lists: enough to spot a typo, short enough to read.
_SYMBOLS_NAMED = 20


async def check_market(
    database: AsyncDatabase[Document], symbol: str, timeframe: Timeframe
) -> SymbolEntry:
    """The catalog entry for a strategy's symbol, or InvalidInput at `symbol` naming the
    stored symbols, or at `timeframe` naming the timeframes its bars can make."""
    entry = await find_symbol(database, symbol)
    if entry is None:
        stored = [known.symbol for known in await list_symbols(database)]
        more = ", ..." if len(stored) > _SYMBOLS_NAMED else ""
        named = ", ".join(stored[:_SYMBOLS_NAMED]) + more
        raise InvalidInput.at(
            "symbol",
            f"no market data for symbol {symbol!r}; stored: {named or 'none (import some first)'}",
            "no_market_data",
        )
    if not entry.can_serve(timeframe):
        raise InvalidInput.at(
            "timeframe",
            f"{entry.symbol} is stored as {entry.timeframe} bars, so {timeframe} cannot be made "
            f"from them; usable: {', '.join(entry.usable_timeframes())}",
            "no_market_data",
        )
    return entry


def range_note(backtest: ResolvedBacktest, entry: SymbolEntry) -> str | None:
    """What a backtest whose range reaches past the stored bars will use instead, said
    plainly; None when the stored bars cover the range asked for. The last bar covers
    its whole period: a range ending during it is covered."""
    covered_until = entry.last + timedelta(seconds=TIMEFRAME_SECONDS[entry.timeframe])
    if backtest.start_date >= entry.first and backtest.end_date < covered_until:
        return None
    start, end = max(backtest.start_date, entry.first), min(backtest.end_date, entry.last)
    minute = "%Y-%m-%d %H:%M"
    return (
        f"{entry.symbol} has bars from {entry.first:{minute}} to {entry.last:{minute}}: "
        f"the backtest runs from {start:{minute}} to {end:{minute}}, not over the "
        f"whole range asked for ({backtest.start_date:%Y-%m-%d} to {backtest.end_date:%Y-%m-%d})"
    )


async def check_data_for(
    database: AsyncDatabase[Document], backtest: ResolvedBacktest, sweep: Sweep | None = None
) -> SymbolEntry:
    """The catalog entry that serves `backtest` (and every trial of its `sweep`), or
    InvalidInput saying what is missing."""
    entry = await check_market(database, backtest.symbol, backtest.timeframe)
    if backtest.end_date < entry.first or backtest.start_date > entry.last:
        raise InvalidInput.at(
            "",
            f"no {entry.symbol} data between {backtest.start_date:%Y-%m-%d} and "
            f"{backtest.end_date:%Y-%m-%d}; "
            f"stored: {entry.first:%Y-%m-%d} to {entry.last:%Y-%m-%d}",
            "no_market_data",
        )
    trials = sweep.bounding_trials(backtest.parameters) if sweep is not None else []
    swept = sweep.swept if sweep is not None else []
    shortfall = backtest.history_shortfall(
        _bars_at_most(backtest, entry), "at most ", trials, swept
    )
    if shortfall is not None:
        raise InvalidInput.at("", shortfall, "not_enough_history")
    return entry


def _bars_at_most(backtest: ResolvedBacktest, entry: SymbolEntry) -> int:
    """An upper bound of the bars the backtest gets from the stored ones: one per
    timeframe step of the range they cover, and no more than are stored."""
    start, end = max(backtest.start_date, entry.first), min(backtest.end_date, entry.last)
    steps = int((end - start).total_seconds() // TIMEFRAME_SECONDS[backtest.timeframe]) + 1
    return min(steps, entry.rows)
