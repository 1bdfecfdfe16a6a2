"""BarsCache: least recently used first out, bounded in bytes."""

from __future__ import annotations

import numpy as np

from backend_services.services.backtest.execution.bars_cache import BarsCache, SeriesKey
from shared.market_data.bars import Bars


def test_the_cache_keeps_the_most_recently_used_within_its_bytes() -> None:
    def series(n: int) -> Bars:
        return Bars(np.arange(n, dtype=np.int64), *(np.ones(n) for _ in range(5)))

    cache = BarsCache(max_bytes=series(100).nbytes * 2)
    a, b, c = (SeriesKey(name, 1, "1h") for name in "ABC")
    cache.put(a, series(100))
    cache.put(b, series(100))
    assert cache.get(a) is not None  # A is now the most recently used
    cache.put(c, series(100))

    assert cache.get(b) is None
    assert cache.get(a) is not None
    assert cache.get(c) is not None
    assert cache.bytes_used == series(100).nbytes * 2
    cache.put(SeriesKey("HUGE", 1, "1h"), series(1_000))
    assert len(cache) == 2  # larger than the whole cache: not kept
