"""The bars a backtest runs on: a whole stored series in the timeframe asked for, from
the worker's cache when it holds it, else mapped from this machine's file of it
(`bar_files`), else read once from MongoDB (and its file written), and kept."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from pymongo.database import Database

from backend_services.market_data.bar_files import BarFiles
from backend_services.market_data.store import find_symbol, load_bars
from backend_services.services.backtest.execution.bars_cache import BarsCache, SeriesKey
from shared.market_data.bars import Bars, MarketDataError
from shared.timeframes import Timeframe


class Series(NamedTuple):
    bars: Bars
    version: int


def load_series(
    db: Database[dict[str, Any]],
    cache: BarsCache,
    symbol: str,
    timeframe: Timeframe,
    expected_version: int | None,
    on_bucket: Callable[[float], None] = lambda fraction: None,
    files: BarFiles | None = None,
) -> Series:
    """`symbol` in `timeframe`. When the cache holds `expected_version` (the version seen
    when the backtest was submitted), nothing is read; otherwise the catalog names the
    current version, which is what the backtest then runs on."""
    if expected_version is not None:
        cached = cache.get(SeriesKey(symbol, expected_version, timeframe))
        if cached is not None:
            return Series(cached, expected_version)
    entry = find_symbol(db, symbol)
    key = SeriesKey(symbol, entry.version, timeframe)
    cached = cache.get(key)
    if cached is not None:
        return Series(cached, entry.version)
    if not entry.can_serve(timeframe):
        raise MarketDataError(
            f"{symbol} is stored as {entry.timeframe} bars and cannot be split "
            f"into {timeframe} bars"
        )
    base_key = SeriesKey(symbol, entry.version, entry.timeframe)
    base = cache.get(base_key)
    if base is None:
        base = files.read(entry) if files else None
        if base is None:
            base = load_bars(db, entry, on_bucket=on_bucket)
            if files:
                files.write(entry, base)
        cache.put(base_key, base)
    if timeframe == entry.timeframe:
        return Series(base, entry.version)
    resampled = base.resample(timeframe, session_start_s=entry.session_start_minutes * 60)
    cache.put(key, resampled)
    return Series(resampled, entry.version)
