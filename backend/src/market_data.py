"""The market-data catalog as the API sees it: which symbols, timeframes and ranges exist."""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from backend_services.contracts import ResolvedBacktest
from backend_services.market_data.catalog import BARS_COLLECTION, CATALOG_COLLECTION, SymbolEntry

MAX_SYMBOLS = 1_000


class NoDataForBacktest(ValueError):
    """The stored bars cannot serve a backtest; the message says why."""


async def list_symbols(database: AsyncDatabase[dict[str, Any]]) -> list[SymbolEntry]:
    cursor = database[CATALOG_COLLECTION].find().sort("_id", 1).limit(MAX_SYMBOLS)
    return [SymbolEntry.model_validate(document) async for document in cursor]


async def find_symbol(database: AsyncDatabase[dict[str, Any]], symbol: str) -> SymbolEntry | None:
    document = await database[CATALOG_COLLECTION].find_one({"_id": symbol})
    return SymbolEntry.model_validate(document) if document else None


async def delete_symbol(database: AsyncDatabase[dict[str, Any]], entry: SymbolEntry) -> bool:
    """Remove the symbol if the catalog still holds `entry`; False if it changed.

    The symbol's version counter is kept, so a later import of the same name never reuses
    a version number that a worker's cache may still hold for the deleted bars.
    """
    removed = await database[CATALOG_COLLECTION].delete_one(
        {"_id": entry.symbol, "version": entry.version}
    )
    if removed.deleted_count == 0:
        return False
    await database[BARS_COLLECTION].delete_many({"symbol": entry.symbol})
    return True


async def check_data_for(
    database: AsyncDatabase[dict[str, Any]], backtest: ResolvedBacktest
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
