"""The catalog: one document per symbol saying what bars are stored and which version."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from backend_services.timeframes import TIMEFRAME_SECONDS, Timeframe

CATALOG_COLLECTION = "symbols"
BARS_COLLECTION = "bars"
# One counter per symbol, so that concurrent imports never write the same version.
VERSIONS_COLLECTION = "symbol_versions"
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
        default=None, description="Who imported it; null for the bundled samples."
    )
    session_start_minutes: int = Field(
        default=0,
        ge=-SESSION_START_LIMIT_MINUTES,
        le=SESSION_START_LIMIT_MINUTES,
        description="When a trading day starts, in minutes after 00:00 UTC (-120: 22:00 "
        "the day before). Daily and weekly bars made from finer ones start then.",
    )
    gap_count: int = Field(default=0, description="Gaps found when the bars were imported.")

    def can_serve(self, timeframe: Timeframe) -> bool:
        """Bars can be aggregated into coarser timeframes, never split into finer ones."""
        return TIMEFRAME_SECONDS[timeframe] >= TIMEFRAME_SECONDS[self.timeframe]

    def usable_timeframes(self) -> list[Timeframe]:
        """Every timeframe a backtest on this symbol can use."""
        return [name for name in TIMEFRAME_SECONDS if self.can_serve(name)]
