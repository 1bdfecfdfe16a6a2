"""A worker's cache of loaded bars, so a repeated backtest reads nothing from MongoDB."""

from __future__ import annotations

from collections import OrderedDict
from typing import NamedTuple

from backend_services.market_data.bars import Bars
from backend_services.timeframes import Timeframe


class SeriesKey(NamedTuple):
    """A whole stored series, in one timeframe. An import changes the version, so an
    entry never goes stale: it is simply no longer asked for, and ages out."""

    symbol: str
    version: int
    timeframe: Timeframe


class BarsCache:
    """Least-recently-used series, at most `max_bytes` of arrays in all. A series larger
    than the whole bound is not kept."""

    def __init__(self, max_bytes: int) -> None:
        self._max_bytes = max_bytes
        self._entries: OrderedDict[SeriesKey, Bars] = OrderedDict()
        self._bytes = 0

    @property
    def bytes_used(self) -> int:
        return self._bytes

    def get(self, key: SeriesKey) -> Bars | None:
        bars = self._entries.get(key)
        if bars is not None:
            self._entries.move_to_end(key)
        return bars

    def put(self, key: SeriesKey, bars: Bars) -> None:
        size = bars.nbytes
        if size > self._max_bytes:
            return
        previous = self._entries.pop(key, None)
        if previous is not None:
            self._bytes -= previous.nbytes
        self._entries[key] = bars
        self._bytes += size
        while self._bytes > self._max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self._bytes -= evicted.nbytes

    def __len__(self) -> int:
        return len(self._entries)
