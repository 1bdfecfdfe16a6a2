"""How likely a sweep's winner is to be luck: the Deflated Sharpe Ratio of the best
trial and the Probability of Backtest Overfitting of picking the best.

Both are computed from per-block moments of each trial's per-bar returns (the simple
returns of its equity curve, taken while the equity before them is positive, as in
`metrics.py`): the bars are cut into BLOCKS contiguous blocks of (nearly) equal length,
and for each trial and block the count of returns and the sums of their first four
powers are kept (`block_moments`, shape (5, BLOCKS)). A 10,000-trial sweep keeps
6 MB of them, never its trials' return series.

- Deflated Sharpe Ratio (Bailey and Lopez de Prado, 2014): the probability that the
  best trial's true Sharpe ratio exceeds SR0, the Sharpe ratio the best of N trials
  reaches by luck alone. With the per-bar (not annualised) Sharpe ratios SR_n of the
  N trials, their sample variance V and the Euler-Mascheroni constant g:
      SR0 = sqrt(V) * ((1 - g) * Z(1 - 1/N) + g * Z(1 - 1/(N e)))   (0 when N = 1)
      DSR = Phi((SR - SR0) * sqrt(T - 1) / sqrt(1 - skew * SR + (kurtosis - 1) / 4 * SR^2))
  where SR, skew and kurtosis (not excess: 3 for normal returns) are the best trial's
  over its T returns, Phi the standard normal distribution and Z its inverse. Trials
  whose Sharpe ratio is undefined (returns that never vary) count in N, not in V.
- Probability of Backtest Overfitting (Bailey, Borwein, Lopez de Prado and Zhu, 2015),
  by combinatorially symmetric cross-validation: for each of the C(S, S/2) ways to
  choose half of the S blocks as in-sample (the rest out-of-sample), the trial with the
  highest in-sample Sharpe ratio is taken and its out-of-sample Sharpe ratio ranked
  among all trials' (1 the worst, N the best; ties share their average rank); with
  w = rank / (N + 1), the logit is ln(w / (1 - w)); PBO is the share of splits whose
  logit is <= 0: how often the in-sample winner is out-of-sample no better than the
  median. A Sharpe ratio over returns that do not vary is 0.
"""

from __future__ import annotations

import math

import numpy as np

from backend_services.services.backtest.engine.compiled import compiled, inlined
from shared.contracts.search import DeflatedSharpe, Overfitting
from shared.market_data.bars import FloatArray, IntArray

__all__ = [
    "BLOCKS",
    "MOMENTS",
    "block_moments",
    "deflated_sharpe",
    "probability_of_backtest_overfitting",
]

BLOCKS = 16
MOMENTS = 5  # count, sum r, sum r^2, sum r^3, sum r^4
EULER_MASCHERONI = 0.5772156649015329


@compiled
def block_moments(equity: FloatArray, blocks: int) -> FloatArray:
    """Of the per-bar returns of `equity` (float64, shape (n,)): for each of `blocks`
    contiguous blocks of bars, the count of returns and the sums of their powers 1 to
    4; shape (MOMENTS, blocks). Bar i (1 <= i < n) is in block (i - 1) * blocks //
    (n - 1). Each block is one loop of plain sums, without a division to find it."""
    moments = np.zeros((MOMENTS, blocks))
    steps = equity.shape[0] - 1
    for block in range(blocks):
        start = 1 + (block * steps + blocks - 1) // blocks
        stop = 1 + ((block + 1) * steps + blocks - 1) // blocks
        count = first = second = third = fourth = 0.0
        for i in range(start, stop):
            before = equity[i - 1]
            if before > 0:
                change = (equity[i] - before) / before
                square = change * change
                count += 1.0
                first += change
                second += square
                third += square * change
                fourth += square * square
        moments[0, block], moments[1, block], moments[2, block] = count, first, second
        moments[3, block], moments[4, block] = third, fourth
    return moments


def deflated_sharpe(moments: FloatArray, best: int) -> DeflatedSharpe | None:
    """The Deflated Sharpe Ratio of trial `best` among all the trials of `moments`
    (shape (N, MOMENTS, blocks)); None when its returns do not vary or are fewer than
    three."""
    totals = moments.sum(axis=2)  # (N, MOMENTS)
    count = totals[best, 0]
    if count < 3:
        return None
    mean = totals[best, 1] / count
    central2 = totals[best, 2] / count - mean**2
    if not central2 > 0:
        return None
    central3 = totals[best, 3] / count - 3 * mean * totals[best, 2] / count + 2 * mean**3
    central4 = (
        totals[best, 4] / count
        - 4 * mean * totals[best, 3] / count
        + 6 * mean**2 * totals[best, 2] / count
        - 3 * mean**4
    )
    skew = central3 / central2**1.5
    kurtosis = central4 / central2**2
    sharpes = _sharpe(totals[:, 0], totals[:, 1], totals[:, 2])
    defined = sharpes[np.isfinite(sharpes)]
    variance = float(np.var(defined, ddof=1)) if defined.size > 1 else 0.0
    trials = moments.shape[0]
    expected_max = expected_max_sharpe(variance, trials)
    sharpe = float(sharpes[best])
    spread = 1 - skew * sharpe + (kurtosis - 1) / 4 * sharpe**2
    value = _normal_cdf((sharpe - expected_max) * math.sqrt(count - 1) / math.sqrt(spread))
    return DeflatedSharpe(
        value=value,
        sharpe=sharpe,
        expected_max_sharpe=expected_max,
        sharpe_variance=variance,
        trials=trials,
        observations=int(count),
        skew=float(skew),
        kurtosis=float(kurtosis),
    )


def expected_max_sharpe(variance: float, trials: int) -> float:
    """The expected maximum of `trials` Sharpe ratios whose true value is 0 and whose
    estimates vary with `variance` (False Strategy Theorem)."""
    if trials < 2:
        return 0.0
    return math.sqrt(variance) * (
        (1 - EULER_MASCHERONI) * _normal_quantile(1 - 1 / trials)
        + EULER_MASCHERONI * _normal_quantile(1 - 1 / (trials * math.e))
    )


def probability_of_backtest_overfitting(moments: FloatArray) -> Overfitting | None:
    """PBO of choosing the highest Sharpe ratio among the trials of `moments` (shape
    (N, MOMENTS, S), S even); None with fewer than two trials, or fewer than two returns
    per block. (A trial without returns in a half, its equity gone, has Sharpe ratio 0.)"""
    trials, _, blocks = moments.shape
    if trials < 2 or blocks % 2 or moments[:, 0, :].sum(axis=1).max(initial=0) < 2 * blocks:
        return None
    halves = _halves_with_the_first_block(blocks)
    sums = np.ascontiguousarray(moments[:, :3, :].transpose(1, 2, 0))  # (3, S, N)
    at_or_below_median = _winners_at_or_below_median(halves, sums)
    splits = 2 * halves.shape[0]
    return Overfitting(
        value=at_or_below_median / splits, blocks=blocks, splits=splits, trials=trials
    )


def _halves_with_the_first_block(blocks: int) -> IntArray:
    """The blocks of each half that holds block 0, one row per half, in lexicographic
    order (consecutive halves share their first blocks): with its complement, each is
    one pair of the C(S, S/2) splits (the S-bit numbers with S/2 bits set, bit 0 among
    them)."""
    numbers = np.arange(1 << blocks, dtype=np.int64)
    bits = (numbers[:, np.newaxis] >> np.arange(blocks)) & 1
    chosen = bits[(bits.sum(axis=1) == blocks // 2) & (bits[:, 0] == 1)]
    halves = np.nonzero(chosen)[1].reshape(chosen.shape[0], blocks // 2)
    return halves[np.lexsort(halves.T[::-1])]


@compiled
def _winners_at_or_below_median(halves: IntArray, sums: FloatArray) -> int:
    """Over every split of `sums` (count, sum and sum of squares of the returns, by
    block and trial: shape (3, S, N)), each half of a pair being the other's
    out-of-sample: how many in-sample winners rank at or below the median out of
    sample. One pass per pair, no (splits x trials) arrays: a half's sums are kept
    block by block (`prefix`), and only those after the first block that differs from
    the previous half's are added again. Sharpe ratios are compared as
    sign(SR) * SR^2, which orders them alike without a square root."""
    size, trials = halves.shape[1], sums.shape[2]
    whole = np.zeros((3, trials))
    for k in range(3):
        for block in range(sums.shape[1]):
            whole[k] += sums[k, block]
    prefix = np.zeros((size + 1, 3, trials))
    inside = np.empty(trials)
    outside = np.empty(trials)
    below = 0
    for pair in range(halves.shape[0]):
        first = 0
        while pair and first < size and halves[pair, first] == halves[pair - 1, first]:
            first += 1
        for position in range(first, size):
            block = halves[pair, position]
            for k in range(3):
                before, after, add = prefix[position, k], prefix[position + 1, k], sums[k, block]
                for n in range(trials):
                    after[n] = before[n] + add[n]
        half = prefix[size]
        best_inside = best_outside = 0
        for n in range(trials):
            inside[n] = _signed_square_sharpe(half[0, n], half[1, n], half[2, n])
            outside[n] = _signed_square_sharpe(
                whole[0, n] - half[0, n], whole[1, n] - half[1, n], whole[2, n] - half[2, n]
            )
            if inside[n] > inside[best_inside]:
                best_inside = n
            if outside[n] > outside[best_outside]:
                best_outside = n
        below += _at_or_below_median(outside, outside[best_inside])
        below += _at_or_below_median(inside, inside[best_outside])
    return below


@inlined
def _signed_square_sharpe(count: float, total: float, squares: float) -> float:
    """sign(SR) * SR^2 of returns given their count and sums; 0 where SR is undefined."""
    if count <= 1:
        return 0.0
    mean = total / count
    variance = (squares - total * mean) / (count - 1)
    return mean * abs(mean) / variance if variance > 0 else 0.0


@inlined
def _at_or_below_median(values: FloatArray, its: float) -> int:
    """1 if `its` ranks at or below the median of `values` (rank 1 the lowest, equals
    sharing their average rank), else 0."""
    lower = equal = 0
    for n in range(values.shape[0]):
        lower += values[n] < its
        equal += values[n] == its
    rank = lower + (equal + 1) / 2
    return 1 if rank / (values.shape[0] + 1) <= 0.5 else 0


def _sharpe(count: FloatArray, total: FloatArray, squares: FloatArray) -> FloatArray:
    """mean / std (ddof=1) of returns given their count and sums; NaN where undefined."""
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = total / count
        variance = (squares - total * mean) / (count - 1)
        defined = (count > 1) & (variance > 0)
        return np.where(defined, mean / np.sqrt(np.where(defined, variance, 1.0)), np.nan)


def _normal_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2))


_A = (-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.3577518672690,
      -30.66479806614716, 2.506628277459239)  # fmt: skip
_B = (-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972,
      -13.28068155288572)  # fmt: skip
_C = (-7.784894002430293e-03, -0.3223964580411365, -2.400758277161838, -2.549732539343734,
      4.374664141464968, 2.938163982698783)  # fmt: skip
_D = (7.784695709041462e-03, 0.3224671290700398, 2.445134137142996, 3.754408661907416)
_TAIL = 0.02425


def _normal_quantile(p: float) -> float:
    """Z(p) for 0 < p < 1: Acklam's rational approximation (relative error 1e-9),
    refined by one Halley step on erfc to double precision."""
    if p < _TAIL or p > 1 - _TAIL:
        q = math.sqrt(-2 * math.log(min(p, 1 - p)))
        x = _poly(_C, q) / (_poly(_D, q) * q + 1)
        x = x if p < _TAIL else -x
    else:
        q = p - 0.5
        r = q * q
        x = _poly(_A, r) * q / (_poly(_B, r) * r + 1)
    error = _normal_cdf(x) - p
    step = error * math.sqrt(2 * math.pi) * math.exp(x * x / 2)
    return x - step / (1 + x * step / 2)


def _poly(coefficients: tuple[float, ...], x: float) -> float:
    """coefficients[0] * x^(k-1) + ... + coefficients[k-1], by Horner's rule."""
    value = 0.0
    for coefficient in coefficients:
        value = value * x + coefficient
    return value
