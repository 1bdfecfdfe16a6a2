"""Reading OHLCV bars from CSV files."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd

from backend_services.market_data.bars import Bars, MarketDataError

_TIME_NAMES = ("timestamp", "datetime", "date", "time")
_PRICE_COLUMNS = ("open", "high", "low", "close", "volume")

# Real series bundled with the product, loaded on first start: symbol -> file.
SAMPLE_FILES = {"GOOG": "GOOG.csv", "EURUSD": "EURUSD.csv"}


def read_csv(source: str | Path | IO[str]) -> Bars:
    """Parse a CSV with a time column (or an unnamed first column) and OHLCV columns.

    Column names are matched case-insensitively; naive times are taken as UTC.
    """
    frame = pd.read_csv(source)
    frame.columns = [str(name).strip().lower() for name in frame.columns]
    time_column = next((name for name in _TIME_NAMES if name in frame.columns), None)
    if time_column is None and frame.columns[0].startswith("unnamed"):
        time_column = frame.columns[0]
    if time_column is None:
        raise MarketDataError(f"no time column: expected one of {', '.join(_TIME_NAMES)}")
    missing = [name for name in _PRICE_COLUMNS if name not in frame.columns]
    if missing:
        raise MarketDataError(f"missing columns: {', '.join(missing)}")
    times = pd.to_datetime(frame[time_column], utc=True).dt.as_unit("s")
    return Bars(
        time=np.asarray(times.astype("int64"), dtype=np.int64),
        **{name: frame[name].to_numpy(dtype=np.float64) for name in _PRICE_COLUMNS},
    )


def read_sample(symbol: str) -> Bars:
    """One of the bundled sample series."""
    sample = resources.files("backend_services.market_data") / "sample-data" / SAMPLE_FILES[symbol]
    with sample.open(encoding="utf-8") as stream:
        return read_csv(stream)
