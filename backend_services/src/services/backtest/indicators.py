"""Technical indicators as plain functions over float64 arrays of shape (n,).

Values that need more history than exists are NaN, so a signal can never be computed
from bars before the first one.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from backend_services.market_data.bars import FloatArray

BoolArray = npt.NDArray[np.bool_]


def sma(values: FloatArray, period: int) -> FloatArray:
    """Simple moving average over the last `period` values, NaN for the first period-1."""
    if period < 1:
        raise ValueError("period must be at least 1")
    result = np.full(values.shape, np.nan)
    if values.shape[0] >= period:
        cumulative = np.cumsum(np.insert(values, 0, 0.0))
        result[period - 1 :] = (cumulative[period:] - cumulative[:-period]) / period
    return result


def crossover(fast: FloatArray, slow: FloatArray) -> BoolArray:
    """True on bars where `fast` closes above `slow` after closing at or below it."""
    crossed = np.zeros(fast.shape, dtype=bool)
    crossed[1:] = (fast[1:] > slow[1:]) & (fast[:-1] <= slow[:-1])
    return crossed


def crossunder(fast: FloatArray, slow: FloatArray) -> BoolArray:
    """True on bars where `fast` closes below `slow` after closing at or above it."""
    return crossover(slow, fast)
