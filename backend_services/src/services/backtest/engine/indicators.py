"""Technical indicators as plain functions over float64 arrays of shape (n,).

Values that need more history than exists are NaN, so a signal can never be computed
from bars before the first one. Exponential averages start from the first value with
smoothing 2 / (period + 1) (Wilder's 1 / period for rsi and atr) and are NaN for their
first period - 1 bars. Standard deviations are population ones (divided by the period).
Windows are computed exactly (`windows`): a window's value depends on its values alone,
never on where in the series it lies.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from backend_services.services.backtest.engine.compiled import compiled
from backend_services.services.backtest.engine.windows import (
    smoothed,
    weighted_mean,
    window_deviation,
    window_max,
    window_mean,
    window_min,
)
from shared.market_data.bars import FloatArray

BoolArray = npt.NDArray[np.bool_]


def sma(values: FloatArray, period: int) -> FloatArray:
    """Simple moving average over the last `period` values, NaN for the first period-1;
    correctly rounded (`windows.window_mean`)."""
    if period < 1:
        raise ValueError("period must be at least 1")
    return window_mean(values, period)


def ema(values: FloatArray, period: int) -> FloatArray:
    return _warm(smoothed(values, 2.0 / (period + 1)), period)


def wma(values: FloatArray, period: int) -> FloatArray:
    """Weighted moving average, the latest value weighing `period`, the oldest 1."""
    return weighted_mean(values, period)


def rsi(values: FloatArray, period: int) -> FloatArray:
    """Wilder's relative strength index, 0..100."""
    change = np.diff(values, prepend=np.nan)  # NaN first: smoothing starts at bar 1
    gains = smoothed(np.where(change < 0, 0.0, change), 1.0 / period)
    losses = smoothed(np.where(change > 0, 0.0, -change), 1.0 / period)
    with np.errstate(divide="ignore", invalid="ignore"):
        index = 100.0 - 100.0 / (1.0 + gains / losses)
    index = np.where(losses == 0, 100.0, index)
    return _warm(index, period + 1)


def macd(values: FloatArray, fast: int, slow: int) -> FloatArray:
    return _warm(smoothed(values, 2.0 / (fast + 1)) - smoothed(values, 2.0 / (slow + 1)), slow)


def macd_signal(values: FloatArray, fast: int, slow: int, signal: int) -> FloatArray:
    line = smoothed(values, 2.0 / (fast + 1)) - smoothed(values, 2.0 / (slow + 1))
    return _warm(smoothed(line, 2.0 / (signal + 1)), slow + signal - 1)


def macd_hist(values: FloatArray, fast: int, slow: int, signal: int) -> FloatArray:
    return macd(values, fast, slow) - macd_signal(values, fast, slow, signal)


def stdev(values: FloatArray, period: int) -> FloatArray:
    """Population standard deviation over the last `period` values."""
    return window_deviation(values, period)


def bollinger(values: FloatArray, period: int, deviations: float) -> FloatArray:
    """The middle band plus `deviations` standard deviations (negative: the lower band)."""
    return sma(values, period) + deviations * stdev(values, period)


def atr(high: FloatArray, low: FloatArray, close: FloatArray, period: int) -> FloatArray:
    """Wilder's average true range."""
    previous = np.concatenate([[np.nan], close[:-1]])
    true_range = np.fmax(high - low, np.fmax(np.abs(high - previous), np.abs(low - previous)))
    return _warm(smoothed(true_range, 1.0 / period), period)


def highest(values: FloatArray, period: int) -> FloatArray:
    return window_max(values, period)


def lowest(values: FloatArray, period: int) -> FloatArray:
    return window_min(values, period)


def roc(values: FloatArray, period: int) -> FloatArray:
    """Rate of change over `period` bars, as a fraction."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return values / shift(values, period) - 1.0


def shift(values: FloatArray, bars: int) -> FloatArray:
    """The value `bars` bars earlier; NaN where there is none."""
    if bars == 0:
        return values
    result = np.full(values.shape, np.nan)
    result[bars:] = values[:-bars]
    return result


@compiled
def crossover(fast: FloatArray, slow: FloatArray) -> BoolArray:
    """True on bars where `fast` closes above `slow` after closing at or below it (so
    never next to a NaN). One pass: numpy would need four whole-array temporaries."""
    crossed = np.empty(fast.shape[0], dtype=np.bool_)
    if fast.shape[0] > 0:
        crossed[0] = False
    for i in range(1, fast.shape[0]):
        crossed[i] = fast[i] > slow[i] and fast[i - 1] <= slow[i - 1]
    return crossed


def crossunder(fast: FloatArray, slow: FloatArray) -> BoolArray:
    """True on bars where `fast` closes below `slow` after closing at or above it."""
    return crossover(slow, fast)


def _warm(values: FloatArray, bars_needed: int) -> FloatArray:
    """NaN for the first bars_needed - 1 bars, which lack the history."""
    values = np.array(values, dtype=np.float64)
    values[: max(0, bars_needed - 1)] = np.nan
    return values
