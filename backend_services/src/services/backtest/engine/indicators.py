"""Technical indicators as plain functions over float64 arrays of shape (n,).

Values that need more history than exists are NaN, so a signal can never be computed
from bars before the first one. The definitions are TA-Lib's (and Wilder's, and
TradingView's), warm-up included: exponential averages (smoothing 2 / (period + 1),
Wilder's 1 / period for rsi and atr) start from the simple mean of their first period,
and the MACD lines appear together, once the signal line has its first period.
Standard deviations are population ones (divided by the period). Windows are computed
exactly (`windows`): a window's value depends on its values alone, never on where in
the series it lies. A series starting with missing values (NaN: an indicator of an
indicator) is taken from its first value on, as TA-Lib does.
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
    return seeded(values, period, 2.0 / (period + 1))


def wma(values: FloatArray, period: int) -> FloatArray:
    """Weighted moving average, the latest value weighing `period`, the oldest 1."""
    return weighted_mean(values, period)


def rsi(values: FloatArray, period: int) -> FloatArray:
    """Wilder's relative strength index, 0..100: 100 * gains / (gains + losses), each
    the mean of the first `period` changes, then smoothed; 0 where nothing moved."""
    change = np.diff(values, prepend=np.nan)  # NaN first: the changes start at bar 1
    gains = seeded(np.where(change < 0, 0.0, change), period, 1.0 / period)
    losses = seeded(np.where(change > 0, 0.0, -change), period, 1.0 / period)
    moved = gains + losses
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(moved == 0, 0.0, 100.0 * gains / moved)


def macd_lines(
    values: FloatArray, fast: int, slow: int, signal: int
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """The MACD line, its signal and their difference, as TA-Lib computes them: both
    averages start on the bar the slow one has its first period (the fast one from the
    mean of its own last `fast` values there), and all three lines start once the
    signal has its first period. Periods in either order (the larger is the slow)."""
    fast, slow = min(fast, slow), max(fast, slow)
    start = _first_finite(values)
    fast_average = np.full(values.shape, np.nan)
    fast_average[start + slow - fast :] = ema(values[start + slow - fast :], fast)
    line = fast_average - ema(values, slow)
    signal_line = ema(line, signal)
    line = _warm(line, start + slow + signal - 1)
    return line, signal_line, line - signal_line


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
    true_range[0] = np.nan  # no previous close: TA-Lib's true range starts at bar 1
    return seeded(true_range, period, 1.0 / period)


def highest(values: FloatArray, period: int) -> FloatArray:
    return window_max(values, period)


def lowest(values: FloatArray, period: int) -> FloatArray:
    return window_min(values, period)


def roc(values: FloatArray, period: int) -> FloatArray:
    """Rate of change over `period` bars, in percent (TA-Lib's ROC); 0 after a 0."""
    earlier = shift(values, period)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(earlier == 0, 0.0, (values / earlier - 1.0) * 100.0)


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


def seeded(values: FloatArray, period: int, alpha: float) -> FloatArray:
    """Exponential smoothing (`windows.smoothed`) that starts, at the end of the first
    `period` values (from the first finite one), from their mean; NaN before it."""
    start = _first_finite(values)
    result = np.full(values.shape, np.nan)
    first = start + period - 1
    if first >= values.shape[0]:
        return result
    head = values[start : first + 1]
    result[first:] = smoothed(
        np.concatenate([[window_mean(head, period)[-1]], values[first + 1 :]]), alpha
    )
    return result


def _first_finite(values: FloatArray) -> int:
    """The index of the first finite value; the length when there is none."""
    finite = np.flatnonzero(np.isfinite(values))
    return int(finite[0]) if finite.size else values.shape[0]


def _warm(values: FloatArray, bars_needed: int) -> FloatArray:
    """NaN for the first bars_needed - 1 bars, which lack the history."""
    values = np.array(values, dtype=np.float64)
    values[: max(0, bars_needed - 1)] = np.nan
    return values
