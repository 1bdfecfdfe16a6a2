"""Shrinking a long curve for transport without losing its peaks and troughs."""

from __future__ import annotations

import itertools

import numpy as np

from backend_services.market_data.bars import FloatArray, IntArray


def extremes_preserving_indices(values: FloatArray, max_points: int) -> IntArray:
    """Indices of at most `max_points` points of `values`, in order: the first, the last,
    and the lowest and highest point of each of equal-width buckets in between, so the
    global maximum and minimum (and so the deepest drawdown's ends) always survive.
    """
    n = values.shape[0]
    if n <= max_points:
        return np.arange(n, dtype=np.int64)
    if max_points < 4:
        raise ValueError("max_points must be at least 4")
    buckets = (max_points - 2) // 2
    edges = np.linspace(1, n - 1, buckets + 1).astype(np.int64)
    chosen = [0, n - 1]
    for start, stop in itertools.pairwise(edges.tolist()):
        if stop > start:
            window = values[start:stop]
            chosen.append(int(start + np.argmin(window)))
            chosen.append(int(start + np.argmax(window)))
    return np.unique(np.array(chosen, dtype=np.int64))
