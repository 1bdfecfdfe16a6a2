"""Reading OHLCV tables from CSV and Parquet files into columns, nothing checked yet
but the file's bounds (see `table_columns` for how columns are found and read)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from backend_services.market_data.csv_tables import read_csv
from backend_services.market_data.import_limits import ImportLimits
from backend_services.market_data.parquet_tables import read_parquet
from backend_services.market_data.table_columns import UNREADABLE_TIME, RawTable
from shared.contracts.market_data import TableFormat

__all__ = [
    "SAMPLE_FILES",
    "UNREADABLE_TIME",
    "RawTable",
    "read_file",
    "read_sample",
    "read_table",
]

# Real series bundled with the product, loaded on first start: symbol -> file.
SAMPLE_FILES = {"GOOG": "GOOG.csv", "EURUSD": "EURUSD.csv"}


def read_table(
    content: bytes, table_format: TableFormat, limits: ImportLimits | None = None
) -> RawTable:
    """Parse a whole file's bytes; TooLarge beyond `limits` (the defaults when not
    given), MarketDataError when it is not a readable table."""
    limits = limits or ImportLimits()
    if table_format is TableFormat.PARQUET:
        return read_parquet(content, limits)
    return read_csv(content, limits)


def read_file(path: Path) -> RawTable:
    return read_table(path.read_bytes(), TableFormat.of_name(path.name))


def read_sample(symbol: str) -> RawTable:
    """One of the bundled sample series."""
    sample = resources.files("backend_services.market_data") / "sample-data" / SAMPLE_FILES[symbol]
    return read_table(sample.read_bytes(), TableFormat.CSV)
