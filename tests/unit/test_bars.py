"""Bars: resampling, slicing, timeframe detection, validation and CSV parsing."""

from __future__ import annotations

import io

import numpy as np
import pytest

from backend_services.market_data.bars import Bars, MarketDataError, detect_timeframe
from backend_services.market_data.csv_import import read_csv, read_sample
from backend_services.market_data.store import validate

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
    with pytest.raises(MarketDataError, match="match no supported timeframe"):
        detect_timeframe(np.array([0, 31 * 86_400, 62 * 86_400], dtype=np.int64))


def test_validation_names_the_first_bad_row() -> None:
    bars = _hourly(5)
    high = bars.high.copy()
    high[3] = 0.5
    with pytest.raises(MarketDataError, match="row 4: high is below low"):
        validate(Bars(bars.time, bars.open, high, bars.low, bars.close, bars.volume))
    with pytest.raises(MarketDataError, match="strictly increasing"):
        validate(Bars(bars.time[::-1].copy(), *_fields(bars)[1:]))


def test_csv_with_an_unnamed_index_and_any_case_columns() -> None:
    csv = io.StringIO(
        ",OPEN,High,low,Close,volume\n2020-01-01,1,2,0.5,1.5,10\n2020-01-02,1.5,2,1,2,20\n"
    )

    bars = read_csv(csv)

    assert bars.time.tolist() == [1_577_836_800, 1_577_923_200]
    assert bars.close.tolist() == [1.5, 2]


def test_csv_without_price_columns_is_refused() -> None:
    with pytest.raises(MarketDataError, match="missing columns: volume"):
        read_csv(io.StringIO("date,open,high,low,close\n2020-01-01,1,2,0.5,1.5\n"))


def _fields(bars: Bars) -> tuple[np.ndarray, ...]:
    return (bars.time, bars.open, bars.high, bars.low, bars.close, bars.volume)
