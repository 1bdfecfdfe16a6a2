"""Which of a file's columns are the bars', and their values as arrays.

Column names are matched case-insensitively. The time column is the first of
timestamp, datetime, date, time, or else an unnamed first column (a saved pandas index,
as in the bundled samples). Times may be ISO 8601 strings (naive ones are UTC, others
are converted to UTC) or epoch numbers: seconds, or milliseconds when larger than
`EPOCH_MS_ABOVE`. A missing volume column reads as zeros, with a note saying so.

Every check here is linear in the number of columns: a header of a million names is
refused by its count before any of this runs, and what is left must never be quadratic.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from shared.market_data.bars import FloatArray, IntArray, MarketDataError

__all__ = [
    "EPOCH_MS_ABOVE",
    "PRICE_COLUMNS",
    "TIME_NAMES",
    "UNREADABLE_TIME",
    "ColumnChoice",
    "RawTable",
    "choose_columns",
    "converted",
    "missing_value",
    "raw_table",
]

TIME_NAMES = ("timestamp", "datetime", "date", "time")
PRICE_COLUMNS = ("open", "high", "low", "close")
# Epoch numbers above this are milliseconds: as seconds it would be the year 5138, as
# milliseconds it is 1973.
EPOCH_MS_ABOVE = 100_000_000_000
# A time that could not be read; always refused by validation.
UNREADABLE_TIME = np.iinfo(np.int64).min


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


@dataclass(frozen=True)
class ColumnChoice:
    """The columns a file's bars are read from: bar field -> position among the file's
    columns (`volume` absent when the file has none)."""

    positions: dict[str, int]

    @property
    def has_volume(self) -> bool:
        return "volume" in self.positions


def choose_columns(names: Sequence[str]) -> ColumnChoice:
    """The bars' columns among `names` (the file's, in order); MarketDataError naming
    what is missing or ambiguous."""
    if not names:
        raise MarketDataError("the file holds no columns")
    lowered = [_plain_name(name, position) for position, name in enumerate(names)]
    alike = sorted(name for name, count in Counter(lowered).items() if count > 1)
    if alike:
        raise MarketDataError(
            f"columns named alike (case aside): {', '.join(alike)}; keep one of each"
        )
    position_of = {name: position for position, name in enumerate(lowered)}
    time_name = next((name for name in TIME_NAMES if name in position_of), None)
    if time_name is None and (lowered[0].startswith("unnamed") or lowered[0] == "index"):
        time_name = lowered[0]
    if time_name is None:
        raise MarketDataError(f"no time column: expected one of {', '.join(TIME_NAMES)}")
    missing = [name for name in PRICE_COLUMNS if name not in position_of]
    if missing:
        raise MarketDataError(f"missing columns: {', '.join(missing)}")
    positions = {"time": position_of[time_name]}
    for name in (*PRICE_COLUMNS, "volume"):
        if name in position_of:
            positions[name] = position_of[name]
    return ColumnChoice(positions)


def _plain_name(name: str, position: int) -> str:
    """A column's name as matched: trimmed, lower case; an empty one named as pandas
    names it (`unnamed: 0`)."""
    plain = name.strip().lower()
    return plain or f"unnamed: {position}"


def raw_table(choice: ColumnChoice, parts: Mapping[str, Sequence[npt.NDArray[Any]]]) -> RawTable:
    """The table of the chosen columns, each read in parts converted by `converted`."""
    time = _epoch_seconds(parts["time"])
    if choice.has_volume:
        volume, notes = _joined(parts["volume"], np.float64), []
    else:
        volume, notes = np.zeros(len(time)), ["no volume column: volume is stored as 0"]
    prices = {name: _joined(parts[name], np.float64) for name in PRICE_COLUMNS}
    return RawTable(time=time, volume=volume, notes=notes, **prices)


def converted(field: str, column: pd.Series) -> npt.NDArray[Any]:
    """One part of a column (a Parquet file's row group; a whole CSV column) as arrays:
    prices and volume as floats, NaN where not a number; times as epoch seconds, or as
    epoch numbers (floats) whose unit is told once the whole column is in."""
    if field != "time":
        return np.asarray(pd.to_numeric(column, errors="coerce"), dtype=np.float64)
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        return np.asarray(column, dtype=np.float64)
    times = pd.to_datetime(column, utc=True, errors="coerce", format="ISO8601")
    unreadable = np.asarray(times.isna())
    seconds = np.asarray(times.dt.as_unit("s").astype("int64"), dtype=np.int64)
    return np.where(unreadable, UNREADABLE_TIME, seconds)


def missing_value(values: npt.NDArray[Any]) -> float:
    """What `converted` gives for a missing value in arrays like `values`."""
    return float(UNREADABLE_TIME) if values.dtype == np.int64 else np.nan


def _epoch_seconds(parts: Sequence[npt.NDArray[Any]]) -> IntArray:
    """Epoch numbers are seconds or milliseconds by the largest of the whole column, as
    if it were read at once."""
    if not parts or parts[0].dtype != np.float64:
        return _joined(parts, np.int64)
    values = _joined(parts, np.float64)
    finite = np.isfinite(values)
    in_ms = np.nanmax(np.abs(values), initial=0.0) > EPOCH_MS_ABOVE
    seconds = np.floor(values / 1000.0) if in_ms else np.floor(values)
    return np.where(finite, seconds, UNREADABLE_TIME).astype(np.int64)


def _joined(parts: Sequence[npt.NDArray[Any]], dtype: type[np.generic]) -> npt.NDArray[Any]:
    if not parts:
        return np.empty(0, dtype=dtype)
    return np.concatenate(parts) if len(parts) > 1 else parts[0]
