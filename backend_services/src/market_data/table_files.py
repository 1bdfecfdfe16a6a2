"""Reading OHLCV tables from CSV and Parquet files into columns, nothing checked yet.

Column names are matched case-insensitively. The time column is the first of
timestamp, datetime, date, time, or else an unnamed first column (a saved pandas index,
as in the bundled samples). Times may be ISO 8601 strings (naive ones are UTC, others
are converted to UTC) or epoch numbers: seconds, or milliseconds when larger than
`EPOCH_MS_ABOVE`. A missing volume column reads as zeros, with a note saying so.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from shared.contracts.market_data import TableFormat
from shared.market_data.bars import FloatArray, IntArray, MarketDataError

__all__ = [
    "EPOCH_MS_ABOVE",
    "PRICE_COLUMNS",
    "SAMPLE_FILES",
    "TIME_NAMES",
    "UNREADABLE_TIME",
    "RawTable",
    "read_file",
    "read_sample",
    "read_table",
]

TIME_NAMES = ("timestamp", "datetime", "date", "time")
PRICE_COLUMNS = ("open", "high", "low", "close")
# Epoch numbers above this are milliseconds: as seconds it would be the year 5138, as
# milliseconds it is 1973.
EPOCH_MS_ABOVE = 100_000_000_000
# A time that could not be read; always refused by validation.
UNREADABLE_TIME = np.iinfo(np.int64).min

# Real series bundled with the product, loaded on first start: symbol -> file.
SAMPLE_FILES = {"GOOG": "GOOG.csv", "EURUSD": "EURUSD.csv"}


@dataclass(frozen=True)
class RawTable:
    """The columns of a file in file order. `time` is epoch seconds, UNREADABLE_TIME
    where a time could not be read; prices and volume are NaN where not a number."""

    time: IntArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.time.shape[0])


def read_table(content: bytes, table_format: TableFormat) -> RawTable:
    """Parse a whole file's bytes; MarketDataError when it is not a readable table."""
    try:
        if table_format is TableFormat.PARQUET:
            frame = pd.read_parquet(io.BytesIO(content))
            if not isinstance(frame.index, pd.RangeIndex):
                frame = frame.reset_index()
        else:
            frame = pd.read_csv(io.BytesIO(content))
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as error:
        raise MarketDataError(f"not a readable {table_format.value} file: {error}") from None
    return _columns(frame)


def read_file(path: Path) -> RawTable:
    return read_table(path.read_bytes(), TableFormat.of_name(path.name))


def read_sample(symbol: str) -> RawTable:
    """One of the bundled sample series."""
    sample = resources.files("backend_services.market_data") / "sample-data" / SAMPLE_FILES[symbol]
    return read_table(sample.read_bytes(), TableFormat.CSV)


def _columns(frame: pd.DataFrame) -> RawTable:
    if frame.shape[1] == 0:
        raise MarketDataError("the file holds no columns")
    names = [str(name).strip().lower() for name in frame.columns]
    alike = sorted({name for name in names if names.count(name) > 1})
    if alike:
        raise MarketDataError(
            f"columns named alike (case aside): {', '.join(alike)}; keep one of each"
        )
    frame.columns = pd.Index(names)
    time_column = next((name for name in TIME_NAMES if name in names), None)
    if time_column is None and (names[0].startswith("unnamed") or names[0] == "index"):
        time_column = names[0]
    if time_column is None:
        raise MarketDataError(f"no time column: expected one of {', '.join(TIME_NAMES)}")
    missing = [name for name in PRICE_COLUMNS if name not in names]
    if missing:
        raise MarketDataError(f"missing columns: {', '.join(missing)}")
    notes = []
    if "volume" in names:
        volume = _numbers(frame["volume"])
    else:
        volume = np.zeros(len(frame))
        notes.append("no volume column: volume is stored as 0")
    return RawTable(
        time=_epoch_seconds(frame[time_column]),
        volume=volume,
        notes=notes,
        **{name: _numbers(frame[name]) for name in PRICE_COLUMNS},
    )


def _numbers(column: pd.Series) -> FloatArray:
    return np.asarray(pd.to_numeric(column, errors="coerce"), dtype=np.float64)


def _epoch_seconds(column: pd.Series) -> IntArray:
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        numbers = np.asarray(column, dtype=np.float64)
        finite = np.isfinite(numbers)
        in_ms = np.nanmax(np.abs(numbers), initial=0.0) > EPOCH_MS_ABOVE
        seconds = np.floor(numbers / 1000.0) if in_ms else np.floor(numbers)
        return np.where(finite, seconds, UNREADABLE_TIME).astype(np.int64)
    times = pd.to_datetime(column, utc=True, errors="coerce", format="ISO8601")
    unreadable = np.asarray(times.isna())
    seconds = np.asarray(times.dt.as_unit("s").astype("int64"), dtype=np.int64)
    return np.where(unreadable, UNREADABLE_TIME, seconds)
