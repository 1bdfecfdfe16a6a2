"""Shrinking a long curve for transport without losing its peaks and troughs."""

from __future__ import annotations

import numpy as np

from shared.market_data.bars import FloatArray, IntArray


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
    whole = count // width
    # The whole buckets as rows of a view (no copy), then the narrower last one, if any.
    grid = inner[: whole * width].reshape(whole, width)
    starts = 1 + width * np.arange(whole, dtype=np.int64)
    chosen = [np.array([0, n - 1]), starts + grid.argmin(axis=1), starts + grid.argmax(axis=1)]
    rest = inner[whole * width :]
    if rest.size:
        first = 1 + whole * width
        chosen.append(np.array([first + rest.argmin(), first + rest.argmax()]))
    return np.unique(np.concatenate(chosen)).astype(np.int64)
