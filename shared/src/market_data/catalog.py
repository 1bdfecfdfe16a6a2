"""The catalog: one document per symbol saying what bars are stored and which version."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field
from pymongo.asynchronous.database import AsyncDatabase

from shared.mongo import Document
from shared.timeframes import TIMEFRAME_SECONDS, Timeframe

__all__ = [
    "BARS_COLLECTION",
    "BARS_INDEX_KEYS",
    "CATALOG_COLLECTION",
    "SESSION_START_LIMIT_MINUTES",
    "SYSTEM_OWNER",
    "VERSIONS_COLLECTION",
    "SymbolEntry",
    "find_symbol",
    "list_symbols",
]

CATALOG_COLLECTION = "symbols"
BARS_COLLECTION = "bars"
# One counter per symbol, so that concurrent imports never write the same version.
VERSIONS_COLLECTION = "symbol_versions"
MAX_SYMBOLS_LISTED = 1_000
# The owner of the bundled sample series; no member's id (a UUID) takes this form.
SYSTEM_OWNER = "system"
BARS_INDEX_KEYS = [("symbol", 1), ("version", 1), ("seq", 1)]
# A trading day may start up to half a day before or after midnight UTC.
SESSION_START_LIMIT_MINUTES = 12 * 60


class SymbolEntry(BaseModel):
    """What is stored for one symbol. `version` changes on every import."""

    symbol: str
    timeframe: Timeframe = Field(description="The timeframe the bars are stored in.")
    first: datetime
    last: datetime
    rows: int
    version: int
    owner_id: str | None = Field(
        default=None,
        description=f"Who imported it: a member's id, {SYSTEM_OWNER!r} for the bundled "
        "samples, null for an administrator's import.",
    )
    session_start_minutes: int = Field(
        default=0,
        ge=-SESSION_START_LIMIT_MINUTES,
        le=SESSION_START_LIMIT_MINUTES,
        description="When a trading day starts, in minutes after 00:00 UTC (-120: 22:00 "
        "the day before). Daily and weekly bars made from finer ones start then.",
    )
    gap_count: int = Field(default=0, description="Gaps found when the bars were imported.")
    import_id: str | None = Field(
        default=None,
        description="Unique to the import that stored this version: names its bars' file "
        "on a worker's disk (market_data/bar_files.py); none for versions stored before.",
    )

    def can_serve(self, timeframe: Timeframe) -> bool:
        """Bars can be aggregated into coarser timeframes, never split into finer ones."""
        return TIMEFRAME_SECONDS[timeframe] >= TIMEFRAME_SECONDS[self.timeframe]

    def owner_in_words(self) -> str:
        """Whom it belongs to, for a member who is not its owner."""
        if self.owner_id == SYSTEM_OWNER:
            return "the system (a bundled sample)"
        return "another member" if self.owner_id else "the administrator"

    def usable_timeframes(self) -> list[Timeframe]:
        """Every timeframe a backtest on this symbol can use."""
        return [name for name in TIMEFRAME_SECONDS if self.can_serve(name)]


async def list_symbols(database: AsyncDatabase[Document]) -> list[SymbolEntry]:
    """Every stored symbol (the first MAX_SYMBOLS_LISTED by name)."""
    cursor = database[CATALOG_COLLECTION].find().sort("_id", 1).limit(MAX_SYMBOLS_LISTED)
    return [SymbolEntry.model_validate(document) async for document in cursor]


async def find_symbol(database: AsyncDatabase[Document], symbol: str) -> SymbolEntry | None:
    document = await database[CATALOG_COLLECTION].find_one({"_id": symbol})
    return SymbolEntry.model_validate(document) if document else None
