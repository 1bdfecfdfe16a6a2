"""How large an import may be: the bounds a file is held to before its rows are expanded,
and the error that refuses one beyond them (413)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from shared.market_data.bars import MarketDataError

__all__ = [
    "DEFAULT_MAX_COLUMNS",
    "DEFAULT_MAX_ROWS",
    "DEFAULT_MEMORY_MB",
    "DEFAULT_TIMEOUT_S",
    "ImportLimits",
    "TooLarge",
]

# Ten years of minute bars around the clock (5.26 M) nearly; what one import may hold,
# and what a symbol may hold after an append.
DEFAULT_MAX_ROWS = 5_000_000
# An OHLCV file has six to a dozen columns; a hundred leaves room for extras.
DEFAULT_MAX_COLUMNS = 100
# The address space of an import process: the largest import the bounds above allow
# fits (bench/upload_limits.py measures it).
DEFAULT_MEMORY_MB = 2_048
# The largest import allowed takes tens of seconds on a busy machine; two minutes is a
# file that is not what it seems.
DEFAULT_TIMEOUT_S = 120.0


class ImportLimits(BaseModel):
    """The bounds of one import: rows and columns, checked from a file's header (CSV) or
    metadata (Parquet) before its rows are read; the import process's memory (address
    space) and the time an import may take."""

    max_rows: int = Field(default=DEFAULT_MAX_ROWS, ge=1)
    max_columns: int = Field(default=DEFAULT_MAX_COLUMNS, ge=6)
    memory_mb: int = Field(default=DEFAULT_MEMORY_MB, ge=512)
    timeout_s: float = Field(default=DEFAULT_TIMEOUT_S, gt=0)


class TooLarge(MarketDataError):
    """A file, or the symbol it would make, beyond an import's bounds."""
