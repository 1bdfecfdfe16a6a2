"""Moving windows over bars, computed so that a window's value depends on its values alone.

A running sum taken from the first bar and differenced (`total[i] - total[i - p]`) carries
a rounding error that grows with the bar's position: at a million bars the mean of a
window of equal prices is no longer that price, and comparisons with it fire that
should not. Here:
- `window_mean` keeps the window's sum exactly, as a sum of two floats (the second holds
  what rounding took from the first; error-free transformations, no float is lost),
  and divides it by the period with correct rounding: the mean of a window is the float
  nearest its true mean, wherever the window lies. Equal prices average to themselves,
  and windows holding the same values give the same mean.
- `window_deviation` sums the deviations from a nearby anchor (a recent value, renewed
  at least every `period` bars), and their squares, the same exact way, so a window of
  equal prices has a deviation of exactly 0 and no large mean cancels the variance away.
- `window_max` and `window_min` are exact by nature (a maximum never rounds).
- `weighted_mean` weighs the deviations from a nearby anchor the same exact way.
A window holding a value that is not finite (NaN: missing history) has no value (NaN).

Exponential averages (`smoothed`) are recurrences, not windows: each value moves the
previous one towards the newest input, `y += alpha * (x - y)`, so equal inputs keep it
exactly where it is and no error accumulates from the first bar.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from backend_services.services.backtest.engine.compiled import (
    compiled,
    fused_multiply_add,
    inlined,
)
from shared.market_data.bars import FloatArray

__all__ = [
    "smoothed",
    "weighted_mean",
    "window_deviation",
    "window_max",
    "window_mean",
    "window_min",
]

# Bars per block: each block is one pass of exact differences (vectorised), one pass of
# the running window sum (sequential) and one pass of divisions (vectorised), over
# scratch arrays that stay in the processor's cache.
_BLOCK = 512
_HALF_BLOCK = _BLOCK // 2


@inlined
def _two_sum(a: float, b: float) -> tuple[float, float]:
    """a + b as the rounded sum and the exact error of that rounding (Knuth)."""
    total = a + b
    b_part = total - a
    return total, (a - (total - b_part)) + (b - b_part)


@inlined
def _fast_two_sum(a: float, b: float) -> tuple[float, float]:
    """a + b and the exact error of its rounding when |a| >= |b| (Dekker's Fast2Sum)."""
    total = a + b
    return total, b - (total - a)


@inlined
def _two_sum_into(a: float, b: float, totals: FloatArray, errors: FloatArray, j: int) -> None:
    """`_two_sum` written to totals[j] and errors[j]: loops that store through it
    vectorise, where storing a returned pair does not."""
    total = a + b
    b_part = total - a
    totals[j] = total
    errors[j] = (a - (total - b_part)) + (b - b_part)


@inlined
def _product_into(a: float, b: float, products: FloatArray, errors: FloatArray, j: int) -> None:
    """a * b and its exact error written to products[j] and errors[j] (vectorises)."""
    product = a * b
    products[j] = product
    errors[j] = fused_multiply_add(a, b, -product)


@inlined
def _exact_product(a: float, b: float) -> tuple[float, float]:
    """a * b as the rounded product and its exact error."""
    product = a * b
    return product, fused_multiply_add(a, b, -product)


@inlined
def _divided(high: float, low: float, period: float, inverse: float) -> float:
    """(high + low) / period, correctly rounded (but for ties at half an ulp): a first
    quotient, the exact remainder it leaves, and the remainder's share added back."""
    quotient = high * inverse
    product = quotient * period
    remainder = ((high - product) - fused_multiply_add(quotient, period, -product)) + low
    return quotient + remainder * inverse


@inlined
def _usable(value: float) -> bool:
    return abs(value) < np.inf  # False for NaN and infinities


def window_mean(values: FloatArray, period: int) -> FloatArray:
    """Mean of the last `period` values, correctly rounded; NaN for the first period-1
    and for windows holding a value that is not finite."""
    return _masked(_exact_mean, values, period)


def window_deviation(values: FloatArray, period: int) -> FloatArray:
    """Population standard deviation of the last `period` values; NaN for the first
    period-1 and for windows holding a value that is not finite."""
    return _masked(_exact_deviation, values, period)


def _masked(
    kernel: Callable[[FloatArray, int], tuple[FloatArray, bool]], values: FloatArray, period: int
) -> FloatArray:
    """`kernel` over values that are all finite. The kernel tells whether they were as it
    reads them (no pass of its own for the check); when they were not, it runs again
    with those values replaced by 0, and the windows holding one are set to NaN."""
    result, all_finite = kernel(values, period)
    if all_finite:
        return result
    finite = np.isfinite(values)
    result, _ = kernel(np.where(finite, values, 0.0), period)
    missing = np.concatenate([[0], np.cumsum(~finite)])
    result[period - 1 :][missing[period:] != missing[:-period]] = np.nan
    return result


@compiled
def _all_finite(values: FloatArray) -> bool:
    """No NaN or infinity (see `_exponent`)."""
    bits = values.view(np.int64)
    exponent = 0
    for i in range(bits.shape[0]):
        exponent = _exponent(exponent, bits[i])
    return exponent < _NOT_FINITE


# A float's exponent field is all ones for NaN and the infinities only.
_NOT_FINITE = 0x7FF


@inlined
def _exponent(largest: int, bits: int) -> int:
    """The larger of `largest` and the exponent field of the float whose bits are
    `bits`: an integer maximum, which vectorises inside a loop where a float test
    (`np.isfinite`) does not; the largest is _NOT_FINITE when any float was not."""
    return max(largest, (bits >> 52) & 0x7FF)


@compiled
def _exact_mean(values: FloatArray, period: int) -> tuple[FloatArray, bool]:
    count = values.shape[0]
    result = np.empty(count)
    result[: min(count, period - 1)] = np.nan
    if count < period:
        return result, True  # no window: nothing to mask
    bits = values.view(np.int64)
    exponent = 0
    inverse, divisor = 1.0 / period, float(period)
    high = low = 0.0
    for i in range(period):
        high, error = _two_sum(high, values[i])
        low += error
        exponent = _exponent(exponent, bits[i])
    result[period - 1] = _divided(high, low, divisor, inverse)
    step, step_error = np.empty(_BLOCK), np.empty(_BLOCK)
    highs, lows = np.empty(_BLOCK), np.empty(_BLOCK)
    bound = np.empty(1)
    for start in range(period, count, _BLOCK):
        stop = min(count, start + _BLOCK)
        entering, leaving = values[start:stop], values[start - period : stop - period]
        entering_bits = bits[start:stop]
        size = stop - start
        for j in range(size):  # what each bar adds, exactly: entering - leaving
            _two_sum_into(entering[j], -leaving[j], step, step_error, j)
            exponent = _exponent(exponent, entering_bits[j])
        # The window's sum at each bar, exactly as high + low.
        if size == _BLOCK and _steps_are_small(high, step, bound):
            _sums_in_two_chains(high, low, step, step_error, highs, lows)
        else:
            for j in range(size):
                high, error = _two_sum(high, step[j])
                low += error + step_error[j]
                highs[j], lows[j] = high, low
        means = result[start:stop]
        for j in range(size):
            means[j] = _divided(highs[j], lows[j], divisor, inverse)
        # Renormalised, so that `low` stays below an ulp of `high`.
        high, low = _two_sum(highs[size - 1], lows[size - 1])
    return result, exponent < _NOT_FINITE


@inlined
def _steps_are_small(total: float, steps: FloatArray, bound: FloatArray) -> bool:
    """Whether every step is at most |total| / (4 * len(steps)): then any partial sum
    total + steps[0] + ... stays above three quarters of |total|, at least three times
    any step. Decided on the steps' bits (an integer maximum, which vectorises): the
    bits of non-negative floats order as the floats do. `bound`: scratch for one float."""
    bits = steps.view(np.int64)
    largest = 0
    for j in range(bits.shape[0]):
        largest = max(largest, bits[j] & 0x7FFF_FFFF_FFFF_FFFF)  # the sign bit cleared
    bound[0] = abs(total) / (4.0 * bits.shape[0])
    return bool(largest <= bound.view(np.int64)[0])


@inlined
def _sums_in_two_chains(
    high: float,
    low: float,
    steps: FloatArray,
    step_errors: FloatArray,
    highs: FloatArray,
    lows: FloatArray,
) -> None:
    """The running sums high + low + steps[0..j] (with their errors), written to highs
    and lows, for steps that are small beside high (`_steps_are_small`). Each addition
    is then one whose larger term comes first, so Fast2Sum's three operations give its
    error exactly (Dekker), where two-sum needs six; and the block's halves run as two
    independent chains, the second from `high` alone, shifted afterwards by what the
    first half added (high_a - high is exact: both lie within a factor of two)."""
    half = _HALF_BLOCK
    first_steps, first_errors = steps[:half], step_errors[:half]
    second_steps, second_errors = steps[half:], step_errors[half:]
    first_highs, first_lows = highs[:half], lows[:half]
    second_highs, second_lows = highs[half:], lows[half:]
    high_a, low_a, high_b, low_b = high, low, high, 0.0
    for j in range(half):
        high_a, error_a = _fast_two_sum(high_a, first_steps[j])
        low_a += error_a + first_errors[j]
        high_b, error_b = _fast_two_sum(high_b, second_steps[j])
        low_b += error_b + second_errors[j]
        first_highs[j], first_lows[j] = high_a, low_a
        second_highs[j], second_lows[j] = high_b, low_b
    shift = high_a - high
    for j in range(half):
        shifted, error = _two_sum(second_highs[j], shift)
        second_highs[j] = shifted
        second_lows[j] += error + low_a


@compiled
def _exact_deviation(values: FloatArray, period: int) -> tuple[FloatArray, bool]:
    count = values.shape[0]
    result = np.full(count, np.nan)
    bits = values.view(np.int64)
    exponent = 0
    divisor = float(period)
    new, new_low = np.empty(_BLOCK), np.empty(_BLOCK)
    old, old_low = np.empty(_BLOCK), np.empty(_BLOCK)
    step, step_error = np.empty(_BLOCK), np.empty(_BLOCK)
    new_square, new_error = np.empty(_BLOCK), np.empty(_BLOCK)
    old_square, old_error = np.empty(_BLOCK), np.empty(_BLOCK)
    square_step, square_step_error = np.empty(_BLOCK), np.empty(_BLOCK)
    totals, total_lows = np.empty(_BLOCK), np.empty(_BLOCK)
    squares_, squares_lows = np.empty(_BLOCK), np.empty(_BLOCK)
    # Renewed at least every `period` bars, the anchor stays within the span of the
    # windows it serves, so the deviations are of the window's own scale.
    block = min(_BLOCK, period)
    for start in range(period - 1, count, block):
        # The anchor is the newest value of the block's first window: deviations from
        # it are small (no large mean to cancel) and 0 for equal prices; each is kept
        # with the error of its subtraction, so nothing is lost when prices move far.
        anchor = values[start]
        total = total_low = squares = squares_low = 0.0
        for i in range(start - period + 1, start + 1):
            exponent = _exponent(exponent, bits[i])
            deviation, deviation_error = _two_sum(values[i], -anchor)
            total, error = _two_sum(total, deviation)
            total_low += error + deviation_error
            square, square_error = _exact_product(deviation, deviation)
            squares, error = _two_sum(squares, square)
            squares_low += error + square_error + 2.0 * deviation * deviation_error
        result[start] = np.sqrt(_variance(total, total_low, squares, squares_low, divisor))
        stop = min(count, start + block)
        size = stop - start - 1
        entering = values[start + 1 : stop]
        entering_bits = bits[start + 1 : stop]
        leaving = values[start + 1 - period : stop - period]
        for j in range(size):  # the deviations entering and leaving, exactly
            _two_sum_into(entering[j], -anchor, new, new_low, j)
            _two_sum_into(leaving[j], -anchor, old, old_low, j)
            exponent = _exponent(exponent, entering_bits[j])
        for j in range(size):  # each bar's change to both sums, exactly
            _two_sum_into(new[j], -old[j], step, step_error, j)
            step_error[j] += new_low[j] - old_low[j]
            _product_into(new[j], new[j], new_square, new_error, j)
            _product_into(old[j], old[j], old_square, old_error, j)
            new_error[j] += 2.0 * new[j] * new_low[j]
            old_error[j] += 2.0 * old[j] * old_low[j]
        for j in range(size):
            _two_sum_into(new_square[j], -old_square[j], square_step, square_step_error, j)
            square_step_error[j] += new_error[j] - old_error[j]
        for j in range(size):  # both sums, exactly as high + low
            total, error = _two_sum(total, step[j])
            total_low += error + step_error[j]
            squares, error = _two_sum(squares, square_step[j])
            squares_low += error + square_step_error[j]
            totals[j], total_lows[j] = total, total_low
            squares_[j], squares_lows[j] = squares, squares_low
        deviations = result[start + 1 : stop]
        for j in range(size):
            variance = _variance(totals[j], total_lows[j], squares_[j], squares_lows[j], divisor)
            deviations[j] = np.sqrt(variance)
    return result, exponent < _NOT_FINITE


@inlined
def _variance(
    total: float, total_low: float, squares: float, squares_low: float, divisor: float
) -> float:
    """Of `divisor` deviations whose sum is total + total_low and whose sum of squares is
    squares + squares_low: sum((d - m)^2) / n = (S2 - 2 m S1 + n m^2) / n, with m the
    mean deviation, each product exact, so nothing cancels that was not equal."""
    mean = _divided(total, total_low, divisor, 1.0 / divisor)
    cross, cross_error = _exact_product(mean, total)
    cross_low = cross_error + mean * total_low
    square, square_error = _exact_product(mean, mean)
    spread, spread_error = _exact_product(square, divisor)
    spread_low = spread_error + square_error * divisor
    centered, error = _two_sum(squares, -2.0 * cross)
    centered, second_error = _two_sum(centered, spread)
    centered_low = squares_low - 2.0 * cross_low + spread_low + error + second_error
    return max((centered + centered_low) / divisor, 0.0)


def window_max(values: FloatArray, period: int) -> FloatArray:
    """Largest of the last `period` values; NaN for the first period-1 and for windows
    holding a NaN."""
    if _all_finite(values):
        return _running_max(values, period)
    missing = np.isnan(values)
    result = _running_max(np.where(missing, -np.inf, values), period)
    counts = np.concatenate([[0], np.cumsum(missing)])
    result[period - 1 :][counts[period:] != counts[:-period]] = np.nan
    return result


@compiled
def _running_max(values: FloatArray, period: int) -> FloatArray:
    """Van Herk / Gil-Werman: maxima running forwards and backwards within blocks of
    `period` bars give any window's maximum as the larger of two of them."""
    count = values.shape[0]
    result = np.full(count, np.nan)
    if count < period:
        return result
    forward, backward = np.empty(count), np.empty(count)
    for block in range(0, count, period):
        end = min(count, block + period)
        largest = values[block]
        for i in range(block, end):
            largest = _larger(values[i], largest)
            forward[i] = largest
        largest = values[end - 1]
        for i in range(end - 1, block - 1, -1):
            largest = _larger(values[i], largest)
            backward[i] = largest
    later, earlier = forward[period - 1 :], backward[: count - period + 1]
    maxima = result[period - 1 :]
    for i in range(maxima.shape[0]):
        maxima[i] = _larger(earlier[i], later[i])
    return result


@inlined
def _larger(a: float, b: float) -> float:
    return a if a > b else b


def window_min(values: FloatArray, period: int) -> FloatArray:
    """Smallest of the last `period` values, like `window_max`."""
    return -window_max(-values, period)


def weighted_mean(values: FloatArray, period: int) -> FloatArray:
    """Weighted mean of the last `period` values, the newest weighing `period` and the
    oldest 1; NaN for the first period-1 and for windows holding a value that is not
    finite."""
    return _masked(_exact_weighted_mean, values, period)


@compiled
def _exact_weighted_mean(values: FloatArray, period: int) -> tuple[FloatArray, bool]:
    """With d the deviations from an anchor (renewed at least every `period` bars), the
    weighted sum N and the plain sum S of a window move on as
    N' = N - S + period * d_new and S' = S + d_new - d_old, both kept exactly as
    high + low; the mean is then anchor + N / weights, so equal prices average to
    themselves."""
    count = values.shape[0]
    result = np.full(count, np.nan)
    bits = values.view(np.int64)
    exponent = 0
    weights = period * (period + 1) / 2.0
    inverse, factor = 1.0 / weights, float(period)
    new, new_low = np.empty(_BLOCK), np.empty(_BLOCK)
    old, old_low = np.empty(_BLOCK), np.empty(_BLOCK)
    step, step_error = np.empty(_BLOCK), np.empty(_BLOCK)
    scaled, scaled_error = np.empty(_BLOCK), np.empty(_BLOCK)
    highs, lows = np.empty(_BLOCK), np.empty(_BLOCK)
    block = min(_BLOCK, period)
    for start in range(period - 1, count, block):
        anchor = values[start]
        total = total_low = weighted = weighted_low = 0.0
        for back in range(period):
            exponent = _exponent(exponent, bits[start - back])
            deviation, deviation_error = _two_sum(values[start - back], -anchor)
            total, error = _two_sum(total, deviation)
            total_low += error + deviation_error
            weight = float(period - back)
            term, term_error = _exact_product(deviation, weight)
            weighted, error = _two_sum(weighted, term)
            weighted_low += error + term_error + weight * deviation_error
        result[start] = anchor + _divided(weighted, weighted_low, weights, inverse)
        stop = min(count, start + block)
        size = stop - start - 1
        entering = values[start + 1 : stop]
        entering_bits = bits[start + 1 : stop]
        leaving = values[start + 1 - period : stop - period]
        for j in range(size):  # the deviations entering and leaving, exactly
            _two_sum_into(entering[j], -anchor, new, new_low, j)
            _two_sum_into(leaving[j], -anchor, old, old_low, j)
            exponent = _exponent(exponent, entering_bits[j])
        for j in range(size):
            _two_sum_into(new[j], -old[j], step, step_error, j)
            step_error[j] += new_low[j] - old_low[j]
            _product_into(new[j], factor, scaled, scaled_error, j)
            scaled_error[j] += factor * new_low[j]
        for j in range(size):
            weighted, error = _two_sum(weighted, -total)
            weighted_low += error - total_low
            weighted, error = _two_sum(weighted, scaled[j])
            weighted_low += error + scaled_error[j]
            total, error = _two_sum(total, step[j])
            total_low += error + step_error[j]
            highs[j], lows[j] = weighted, weighted_low
        means = result[start + 1 : stop]
        for j in range(size):
            means[j] = anchor + _divided(highs[j], lows[j], weights, inverse)
    return result, exponent < _NOT_FINITE


@compiled
def smoothed(values: FloatArray, alpha: float) -> FloatArray:
    """Exponential smoothing, `y[i] = y[i-1] + alpha * (x[i] - y[i-1])`, starting from the
    first finite value (NaN before it); a value that is not finite leaves y unchanged."""
    count = values.shape[0]
    result = np.empty(count)
    level = np.nan
    for i in range(count):
        value = values[i]
        if _usable(value):
            level = value if level != level else level + alpha * (value - level)
        result[i] = level
    return result
