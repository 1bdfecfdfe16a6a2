from __future__ import annotations

import numpy as np
import pytest

from backend_services.services.backtest.engine.downsample import extremes_preserving_indices


def test_short_series_are_kept_whole() -> None:
    assert extremes_preserving_indices(np.arange(5.0), 10).tolist() == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("seed", range(5))
def test_long_series_keep_ends_and_extremes_in_order(seed: int) -> None:
    values = np.cumsum(np.random.default_rng(seed).normal(size=50_000))

    kept = extremes_preserving_indices(values, 2_000)

    assert len(kept) <= 2_000
    assert kept.tolist() == sorted(set(kept.tolist()))
    assert {0, len(values) - 1, int(np.argmax(values)), int(np.argmin(values))} <= set(kept)


def test_too_few_points_to_keep_extremes_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 4"):
        extremes_preserving_indices(np.arange(10.0), 3)


@pytest.mark.parametrize("n", [4_001, 4_003, 5_000, 1_000_003])
def test_extremes_in_the_last_partial_bucket_survive(n: int) -> None:
    values = np.zeros(n)
    values[-2], values[-3] = 5.0, -5.0

    kept = extremes_preserving_indices(values, 2_000)

    assert len(kept) <= 2_000
    assert {0, n - 3, n - 2, n - 1} <= set(kept.tolist())
