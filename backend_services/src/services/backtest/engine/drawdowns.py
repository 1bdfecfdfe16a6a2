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
    and the length in bars of every period below a peak."""

    falls: FloatArray
    depths: FloatArray
    lengths: IntArray

    @classmethod
    def of(cls, equity: FloatArray) -> Drawdowns:
        return cls(*_drawdowns(equity))


@compiled
def _drawdowns(equity: FloatArray) -> tuple[FloatArray, FloatArray, IntArray]:
    """One pass: the running peak, the fall from it, and the periods below it."""
    falls = np.empty(equity.shape[0])
    capacity = equity.shape[0] // 2 + 1  # periods are separated by at least one peak
    depths = np.empty(capacity)
    lengths = np.empty(capacity, dtype=np.int64)
    peak, deepest = -np.inf, 0.0
    periods = length = 0
    for i in range(equity.shape[0]):
        peak = max(peak, equity[i])
        fall = equity[i] / peak - 1.0 if peak > 0 else 0.0
        falls[i] = fall
        if fall < 0:
            deepest = fall if length == 0 else min(deepest, fall)
            length += 1
        elif length > 0:
            depths[periods], lengths[periods] = deepest, length
            periods, length = periods + 1, 0
    if length > 0:
        depths[periods], lengths[periods] = deepest, length
        periods += 1
    return falls, depths[:periods].copy(), lengths[:periods].copy()
