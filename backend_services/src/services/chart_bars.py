"""A symbol's bars for a chart: any timeframe its stored bars can make, any range,
joined into at most a given number of candles that keep every high and low; with them,
the indicator lines asked for (`shared.rules.lines`), computed over the whole series so
they are warm where the range starts, each read at its candles' last bars."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime

import numpy as np
from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from backend_services.market_data.store import decode_bucket
from backend_services.services.backtest.engine.evaluate import RuleEvaluator
from backend_services.services.backtest.execution.bars_cache import BarsCache, SeriesKey
from shared.contracts.market_data import Candles, IndicatorLine
from shared.errors import InvalidInput, NotFound
from shared.market_data.bars import Bars, candle_bounds, concatenate
from shared.market_data.catalog import BARS_COLLECTION, SymbolEntry, find_symbol
from shared.mongo import Document
from shared.rules.lines import MAX_LINES, on_price_scale
from shared.rules.parser import Call, Node, RuleError, parse_series
from shared.timeframes import Timeframe, utc_datetimes

__all__ = ["chart_bars"]


async def chart_bars(
    database: AsyncDatabase[Document],
    cache: BarsCache,
    symbol: str,
    timeframe: Timeframe | None,
    start: datetime | None,
    end: datetime | None,
    most: int,
    lines: Sequence[str] = (),
) -> Candles:
    """The candles and the `lines`; the whole series in `timeframe` is kept in `cache`,
    so the next chart of it (another range, another page of the same member) reads
    nothing."""
    nodes = _parsed_lines(lines)
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
    key = SeriesKey(symbol, entry.version, timeframe)
    series = cache.get(key)
    if series is None:
        query = {"symbol": symbol, "version": entry.version}
        buckets = await database[BARS_COLLECTION].find(query).sort("seq", ASCENDING).to_list()
        # Joining a million bars is milliseconds of numpy, but not on the event loop.
        series = await asyncio.to_thread(_series, buckets, entry, timeframe)
        cache.put(key, series)
    candles = await asyncio.to_thread(
        _candles, series, entry.symbol, timeframe, start_s, end_s, most
    )
    if nodes:
        drawn = await asyncio.to_thread(_lines, series, nodes, start_s, end_s, most)
        candles = candles.model_copy(update={"lines": drawn})
    return candles


def _parsed_lines(lines: Sequence[str]) -> list[tuple[str, Node]]:
    if len(lines) > MAX_LINES:
        raise InvalidInput.at("line", f"at most {MAX_LINES} lines, not {len(lines)}")
    parsed = []
    for text in lines:
        try:
            parsed.append((text, parse_series(text)))
        except RuleError as error:
            raise InvalidInput.at("line", f"{text!r}: {error}") from None
    return parsed


def _lines(
    series: Bars, nodes: list[tuple[str, Node]], start_s: int, end_s: int, most: int
) -> list[IndicatorLine]:
    evaluator = RuleEvaluator(series, {})
    window = series.span(start_s, end_s)
    _, ends = candle_bounds(window.stop - window.start, most)
    drawn = []
    for text, node in nodes:
        values = np.asarray(evaluator.value(node), dtype=np.float64)
        at_ends = np.broadcast_to(values, (len(series),))[window][ends]
        drawn.append(
            IndicatorLine(
                name=text,
                on_price_scale=isinstance(node, Call) and on_price_scale(node.function),
                values=[None if np.isnan(value) else value for value in at_ends.tolist()],
            )
        )
    return drawn


def _series(buckets: list[Document], entry: SymbolEntry, timeframe: Timeframe) -> Bars:
    bars = concatenate([decode_bucket(bucket) for bucket in buckets])
    if timeframe == entry.timeframe:
        return bars
    return bars.resample(timeframe, session_start_s=entry.session_start_minutes * 60)


def _candles(
    series: Bars, symbol: str, timeframe: Timeframe, start_s: int, end_s: int, most: int
) -> Candles:
    bars = series.between(start_s, end_s)
    candles = bars.in_candles(most)
    return Candles(
        symbol=symbol,
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
