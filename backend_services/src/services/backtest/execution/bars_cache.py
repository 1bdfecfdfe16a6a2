"""A worker's cache of loaded bars, so a repeated backtest reads nothing from MongoDB."""

from __future__ import annotations

from typing import NamedTuple

from backend_services.services.backtest.backtest_engine import SizedLRU
from shared.market_data.bars import Bars
from shared.timeframes import Timeframe


class SeriesKey(NamedTuple):
    """A whole stored series, in one timeframe. An import changes the version, so an
    entry never goes stale: it is simply no longer asked for, and ages out."""

    symbol: str
    version: int
    timeframe: Timeframe


class BarsCache(SizedLRU[SeriesKey, Bars]):
    """Least-recently-used series, at most `max_bytes` of arrays in all."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(max_bytes, size_of=lambda bars: bars.nbytes)
