"""Synthetic minute bars for the benchmarks that need a long series of their own."""

from __future__ import annotations

import numpy as np

from shared.market_data.bars import Bars

__all__ = ["minute_walk"]


def minute_walk(count: int, seed: int) -> Bars:
    """`count` one-minute bars of a random walk from 100, each opening at the previous
    close, their high and low a twentieth of a percent beyond open and close."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.001, count)))
    open_ = np.concatenate([[close[0]], close[:-1]])
    return Bars(
        time=1_600_000_020 // 60 * 60 + 60 * np.arange(count, dtype=np.int64),
        open=open_,
        high=np.maximum(open_, close) * 1.0005,
        low=np.minimum(open_, close) * 0.9995,
        close=close,
        volume=np.ones(count),
    )
