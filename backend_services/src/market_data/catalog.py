"""The catalog: one document per symbol saying what bars are stored and which version."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from backend_services.contracts import TIMEFRAME_SECONDS, Timeframe

CATALOG_COLLECTION = "symbols"
BARS_COLLECTION = "bars"
BARS_INDEX_KEYS = [("symbol", 1), ("version", 1), ("seq", 1)]


class SymbolEntry(BaseModel):
    """What is stored for one symbol. `version` changes on every import."""

    symbol: str
    timeframe: Timeframe
    first: datetime
    last: datetime
    rows: int
    version: int

    def can_serve(self, timeframe: Timeframe) -> bool:
        """Bars can be aggregated into coarser timeframes, never split into finer ones."""
        return TIMEFRAME_SECONDS[timeframe] >= TIMEFRAME_SECONDS[self.timeframe]
