"""Bars: resampling (session-aware), slicing and timeframe detection."""

from __future__ import annotations

import numpy as np
import pytest

from backend_services.market_data.table_files import read_sample
from shared.market_data.bars import Bars, MarketDataError, detect_timeframe

HOUR = 3_600
MONDAY = 4 * 86_400  # 1970-01-05


def _hourly(n: int, start: int = 0) -> Bars:
    base = np.arange(n, dtype=float) + 10
    return Bars(
        time=start + np.arange(n, dtype=np.int64) * HOUR,
        open=base,
        high=base + 2,
        low=base - 1,
        close=base + 0.5,
        volume=np.arange(n, dtype=float) + 1,
    )


def test_resample_aggregates_ohlcv() -> None:
    four_hourly = _hourly(8).resample("4h")

    assert four_hourly.time.tolist() == [0, 4 * HOUR]
    assert four_hourly.open.tolist() == [10, 14]
    assert four_hourly.high.tolist() == [15, 19]
    assert four_hourly.low.tolist() == [9, 13]
    assert four_hourly.close.tolist() == [13.5, 17.5]
    assert four_hourly.volume.tolist() == [1 + 2 + 3 + 4, 5 + 6 + 7 + 8]


def test_resample_leaves_out_empty_bins_and_aligns_weeks_to_monday() -> None:
    bars = _hourly(3, start=MONDAY + 86_400 * 2)  # a Wednesday
    gap = _hourly(2, start=MONDAY + 86_400 * 21)  # three weeks later
    joined = Bars(
        *(np.concatenate([a, b]) for a, b in zip(_fields(bars), _fields(gap), strict=True))
    )

    weekly = joined.resample("1w")

    assert weekly.time.tolist() == [MONDAY, MONDAY + 86_400 * 21]
    assert weekly.open.tolist() == [10, 10]
    assert weekly.close.tolist() == [12.5, 11.5]


def test_between_is_inclusive_at_both_ends() -> None:
    window = _hourly(10).between(2 * HOUR, 5 * HOUR)

    assert window.time.tolist() == [2 * HOUR, 3 * HOUR, 4 * HOUR, 5 * HOUR]


def test_timeframe_is_the_most_common_spacing() -> None:
    goog = read_sample("GOOG")  # trading days, with weekends and holidays between

    assert detect_timeframe(goog.time) == "1d"
    assert detect_timeframe(read_sample("EURUSD").time) == "1h"
    with pytest.raises(MarketDataError, match="bars 31 days apart match no supported timeframe"):
        detect_timeframe(np.array([0, 31 * 86_400, 62 * 86_400], dtype=np.int64))
    with pytest.raises(MarketDataError, match="bars about 2 minutes apart"):
        detect_timeframe(np.array([0, 90, 180], dtype=np.int64))


def test_daily_bins_start_at_the_session_start() -> None:
    # Hourly bars from Sunday 22:00 UTC: an FX week whose days start at 22:00 UTC.
    sunday_22 = MONDAY + 7 * 86_400 - 2 * HOUR
    bars = _hourly(48, start=sunday_22)

    daily = bars.resample("1d", session_start_s=-2 * HOUR)
    weekly = bars.resample("1w", session_start_s=-2 * HOUR)

    assert daily.time.tolist() == [sunday_22, sunday_22 + 86_400]
    assert daily.open.tolist() == [10, 34]
    assert daily.close.tolist() == [33.5, 57.5]
    assert weekly.time.tolist() == [sunday_22]
    assert bars.resample("1d").time.tolist() == [
        sunday_22 - 22 * HOUR,
        sunday_22 + 2 * HOUR,
        sunday_22 + 26 * HOUR,
    ]


def _fields(bars: Bars) -> tuple[np.ndarray, ...]:
    return (bars.time, bars.open, bars.high, bars.low, bars.close, bars.volume)
