"""A symbol's bars for a chart: any timeframe its stored bars can make, any range,
joined into at most a given number of candles that keep every high and low."""

from __future__ import annotations

import asyncio
from datetime import datetime

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from backend_services.market_data.store import decode_bucket
from shared.contracts.market_data import Candles
from shared.errors import InvalidInput, NotFound
from shared.market_data.bars import concatenate
from shared.market_data.catalog import BARS_COLLECTION, SymbolEntry, find_symbol
from shared.mongo import Document
from shared.timeframes import TIMEFRAME_SECONDS, Timeframe, utc_datetimes

__all__ = ["chart_bars"]


async def chart_bars(
    database: AsyncDatabase[Document],
    symbol: str,
    timeframe: Timeframe | None,
    start: datetime | None,
    end: datetime | None,
    most: int,
) -> Candles:
    entry = await find_symbol(database, symbol)
    if entry is None:
        raise NotFound(f"no market data for {symbol}")
    timeframe = timeframe or entry.timeframe
    if not entry.can_serve(timeframe):
        raise InvalidInput.at(
            "timeframe",
            f"{symbol} is stored as {entry.timeframe} bars, so {timeframe} cannot be made "
            f"from them; usable: {', '.join(entry.usable_timeframes())}",
        )
    start_s = int(start.timestamp()) if start else int(entry.first.timestamp())
    end_s = int(end.timestamp()) if end else int(entry.last.timestamp())
    if end_s < start_s:
        raise InvalidInput.at("end", "end must not be before start")
    # Whole periods around the range, so its first and last candles are complete.
    margin = TIMEFRAME_SECONDS[timeframe]
    query = {
        "symbol": symbol,
        "version": entry.version,
        "last": {"$gte": start_s - margin},
        "first": {"$lte": end_s + margin},
    }
    buckets = await database[BARS_COLLECTION].find(query).sort("seq", ASCENDING).to_list(None)
    # Joining a million bars is milliseconds of numpy, but not on the event loop.
    return await asyncio.to_thread(_candles, buckets, entry, timeframe, start_s, end_s, most)


def _candles(
    buckets: list[Document],
    entry: SymbolEntry,
    timeframe: Timeframe,
    start_s: int,
    end_s: int,
    most: int,
) -> Candles:
    bars = concatenate([decode_bucket(bucket) for bucket in buckets])
    if timeframe != entry.timeframe:
        bars = bars.resample(timeframe, session_start_s=entry.session_start_minutes * 60)
    bars = bars.between(start_s, end_s)
    candles = bars.in_candles(most)
    return Candles(
        symbol=entry.symbol,
        timeframe=timeframe,
        bars=len(bars),
        bars_per_candle=max(1, -(-len(bars) // most)),
        time=utc_datetimes(candles.time.tolist()),
        open=candles.open.tolist(),
        high=candles.high.tolist(),
        low=candles.low.tolist(),
        close=candles.close.tolist(),
        volume=candles.volume.tolist(),
    )
