"""Time in the product: the bar timeframes it knows with their length in seconds, and
epoch seconds (how bars keep time) as UTC datetimes (how the API shows it)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Literal

__all__ = ["TIMEFRAME_SECONDS", "Timeframe", "utc_datetime", "utc_datetimes"]

Timeframe = Literal["1m", "5m", "15m", "30m", "1h", "4h", "1d", "1w"]
TIMEFRAME_SECONDS: dict[Timeframe, int] = {
    "1m": 60,
    "5m": 300,
    "15m": 900,
    "30m": 1_800,
    "1h": 3_600,
    "4h": 14_400,
    "1d": 86_400,
    "1w": 604_800,
}


def utc_datetime(epoch_s: int) -> datetime:
    return datetime.fromtimestamp(epoch_s, tz=UTC)


def utc_datetimes(epoch_seconds: Iterable[int]) -> list[datetime]:
    return [datetime.fromtimestamp(second, tz=UTC) for second in epoch_seconds]
