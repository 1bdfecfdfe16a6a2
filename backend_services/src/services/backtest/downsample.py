"""Shrinking a long curve for transport without losing its peaks and troughs."""

from __future__ import annotations

import numpy as np

from backend_services.market_data.bars import FloatArray, IntArray


def extremes_preserving_indices(values: FloatArray, max_points: int) -> IntArray:
    """Indices of at most `max_points` points of `values`, in order: the first, the last,
    and the lowest and highest point of each of equal-width buckets in between (the last
    one possibly narrower), so the global maximum and minimum (and so the deepest
    drawdown's ends) always survive.
    """
    n = values.shape[0]
    if n <= max_points:
        return np.arange(n, dtype=np.int64)
    if max_points < 4:
        raise ValueError("max_points must be at least 4")
    inner = values[1 : n - 1]
    count = inner.shape[0]
    width = -(-count // ((max_points - 2) // 2))  # ceiling division
    buckets = -(-count // width)
    cells = np.empty(buckets * width)
    cells[:count] = inner
    cells[count:] = np.inf  # padding of the last bucket, never the lowest
    grid = cells.reshape(buckets, width)
    starts = 1 + width * np.arange(buckets, dtype=np.int64)
    low_at = starts + np.argmin(grid, axis=1)
    cells[count:] = -np.inf  # nor the highest
    high_at = starts + np.argmax(grid, axis=1)
    ends = np.array([0, n - 1], dtype=np.int64)
    return np.unique(np.concatenate([ends, low_at, high_at]))
