"""The bar timeframes the product knows, and their length in seconds."""

from __future__ import annotations

from typing import Literal

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
