"""Whether the stored market data can serve a backtest, read from the catalog."""

from __future__ import annotations

from pymongo.asynchronous.database import AsyncDatabase

from shared.contracts.backtests import ResolvedBacktest
from shared.errors import InvalidInput
from shared.market_data.catalog import SymbolEntry, find_symbol
from shared.mongo import Document

__all__ = ["NoDataForBacktest", "check_data_for"]


class NoDataForBacktest(InvalidInput):
    """The stored bars cannot serve a backtest; the message says why."""

    def __init__(self, message: str) -> None:
        # The same shape as FastAPI's own validation errors, so clients parse one kind.
        super().__init__([{"loc": ["body"], "msg": message, "type": "no_market_data"}])


async def check_data_for(
    database: AsyncDatabase[Document], backtest: ResolvedBacktest
) -> SymbolEntry:
    """The catalog entry that serves `backtest`, or NoDataForBacktest saying what is missing."""
    entry = await find_symbol(database, backtest.symbol)
    if entry is None:
        raise NoDataForBacktest(f"no market data for symbol {backtest.symbol!r}")
    if not entry.can_serve(backtest.timeframe):
        raise NoDataForBacktest(
            f"{entry.symbol} is stored as {entry.timeframe} bars; "
            f"{backtest.timeframe} is finer and cannot be made from them"
        )
    if backtest.end_date < entry.first or backtest.start_date > entry.last:
        raise NoDataForBacktest(
            f"no {entry.symbol} data between {backtest.start_date:%Y-%m-%d} and "
            f"{backtest.end_date:%Y-%m-%d}; stored: {entry.first:%Y-%m-%d} to {entry.last:%Y-%m-%d}"
        )
    return entry
