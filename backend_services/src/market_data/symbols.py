"""Removing a symbol from the catalog, as the event loop does it."""

from __future__ import annotations

from pymongo.asynchronous.database import AsyncDatabase

from shared.market_data.catalog import BARS_COLLECTION, CATALOG_COLLECTION, SymbolEntry
from shared.mongo import Document

__all__ = ["delete_symbol"]


async def delete_symbol(database: AsyncDatabase[Document], entry: SymbolEntry) -> bool:
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
