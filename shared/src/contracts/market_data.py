"""Market data on the wire: what an import is asked to do and what it reports, and the
catalog entry of a stored symbol."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from shared.contracts.common import Symbol
from shared.market_data.catalog import SESSION_START_LIMIT_MINUTES, SymbolEntry
from shared.timeframes import Timeframe

__all__ = [
    "MAX_CANDLES",
    "Candles",
    "DuplicatePolicy",
    "Gap",
    "ImportMode",
    "ImportOptions",
    "ImportOutcome",
    "ImportReport",
    "IndicatorLine",
    "RowProblem",
    "SymbolEntry",
    "TableFormat",
]

MAX_CANDLES = 20_000
MAX_ROWS_LISTED = 20
MAX_GAPS_LISTED = 20


class TableFormat(StrEnum):
    CSV = "csv"
    PARQUET = "parquet"

    @classmethod
    def of_name(cls, name: str) -> TableFormat:
        """By the file name's extension: .parquet or .pq, else CSV."""
        return cls.PARQUET if name.lower().endswith((".parquet", ".pq")) else cls.CSV


class DuplicatePolicy(StrEnum):
    REFUSE = "refuse"
    DROP = "drop"


class RowProblem(BaseModel):
    problem: str
    count: int = Field(description="Rows with this problem.")
    rows: list[int] = Field(description=f"The first {MAX_ROWS_LISTED} of them, numbered from 1.")


class Gap(BaseModel):
    after: datetime = Field(description="The last bar before the gap.")
    before: datetime = Field(description="The first bar after it.")
    missing_bars: int


class ImportReport(BaseModel):
    """What an import found and did. `problems` is empty when it was stored."""

    rows_read: int
    rows_stored: int = 0
    rows_out_of_order: int = Field(0, description="Rows earlier than the row above them.")
    duplicates_dropped: int = 0
    already_stored: int = Field(0, description="Appended rows not newer than the stored ones.")
    timeframe: Timeframe | None = None
    first: datetime | None = None
    last: datetime | None = None
    gap_count: int = 0
    gaps: list[Gap] = Field(default_factory=list, description="The longest gaps.")
    problems: list[RowProblem] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


class ImportMode(StrEnum):
    REPLACE = "replace"
    APPEND = "append"


class ImportOptions(BaseModel):
    symbol: Symbol
    mode: ImportMode = ImportMode.REPLACE
    duplicates: DuplicatePolicy = DuplicatePolicy.REFUSE
    session_start_minutes: int | None = Field(
        default=None,
        ge=-SESSION_START_LIMIT_MINUTES,
        le=SESSION_START_LIMIT_MINUTES,
        description="When a trading day starts, in minutes after 00:00 UTC; kept from the "
        "stored symbol (or 0) when not given.",
    )
    owner_id: str | None = Field(
        default=None, description="The importing user; None for an administrator's import."
    )


class ImportOutcome(BaseModel):
    entry: SymbolEntry | None = Field(description="The catalog entry; None if nothing was new.")
    report: ImportReport


class IndicatorLine(BaseModel):
    """An indicator series over the candles: its value at each candle's last bar
    (null while it warms up), computed over every bar before the range too."""

    name: str = Field(description="The series as rule text, such as 'sma(close, 50)'.")
    on_price_scale: bool = Field(
        description="Its values are prices (drawn over the candles), or not (a pane of its own)."
    )
    values: list[float | None]


class Candles(BaseModel):
    """A symbol's bars for a chart, as columns: each candle joins `bars_per_candle`
    consecutive bars of `timeframe` (first open, highest high, lowest low, last close,
    summed volume), so no high or low is lost however many bars the range holds."""

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "symbol": "GOOG",
                    "timeframe": "1d",
                    "bars": 2148,
                    "bars_per_candle": 2,
                    "time": ["2004-08-19T00:00:00Z"],
                    "open": [100.0],
                    "high": [104.06],
                    "low": [95.96],
                    "close": [101.31],
                    "volume": [44871300.0],
                }
            ]
        }
    }

    symbol: Symbol
    timeframe: Timeframe
    bars: int = Field(description="Bars of `timeframe` in the range asked for.")
    bars_per_candle: int = Field(ge=1)
    time: list[datetime] = Field(description="Each candle's first bar's open time, UTC.")
    open: list[float]
    high: list[float]
    low: list[float]
    close: list[float]
    volume: list[float]
    lines: list[IndicatorLine] = Field(default=[], description="The lines asked for.")
