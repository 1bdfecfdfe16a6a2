"""Falls of an equity curve from its running peak, and the periods spent below it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from backend_services.services.backtest.engine.compiled import compiled
from shared.market_data.bars import FloatArray, IntArray


@dataclass(frozen=True, slots=True)
class Drawdowns:
    """`falls`: the fall from the running peak at every bar, 0 at a peak, negative below
    it (and 0 while the peak is not positive). `depths` and `lengths`: the deepest point
    and the length in bars of every period below a peak; `troughs`: the bar of its
    deepest point, `ends`: the bar after it (the number of bars for one open at the end)."""

    falls: FloatArray
    depths: FloatArray
    lengths: IntArray
    troughs: IntArray
    ends: IntArray

    @classmethod
    def of(cls, equity: FloatArray) -> Drawdowns:
        return cls(*_drawdowns(equity))


@compiled
def _drawdowns(
    equity: FloatArray,
) -> tuple[FloatArray, FloatArray, IntArray, IntArray, IntArray]:
    """One pass: the running peak, the fall from it, and the periods below it."""
    n = equity.shape[0]
    falls = np.empty(n)
    capacity = n // 2 + 1  # periods are separated by at least one peak
    depths = np.empty(capacity)
    lengths = np.empty(capacity, dtype=np.int64)
    troughs = np.empty(capacity, dtype=np.int64)
    ends = np.empty(capacity, dtype=np.int64)
    peak, deepest = -np.inf, 0.0
    periods = length = trough = 0
    for i in range(n):
        peak = max(peak, equity[i])
        fall = equity[i] / peak - 1.0 if peak > 0 else 0.0
        falls[i] = fall
        if fall < 0:
            if length == 0 or fall < deepest:
                deepest, trough = fall, i
            length += 1
        elif length > 0:
            depths[periods], lengths[periods] = deepest, length
            troughs[periods], ends[periods] = trough, i
            periods, length = periods + 1, 0
    if length > 0:
        depths[periods], lengths[periods] = deepest, length
        troughs[periods], ends[periods] = trough, n
        periods += 1
    return (
        falls,
        depths[:periods].copy(),
        lengths[:periods].copy(),
        troughs[:periods].copy(),
        ends[:periods].copy(),
    )
