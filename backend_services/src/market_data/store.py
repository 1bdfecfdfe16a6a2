"""Bars in MongoDB as column buckets: each document packs a contiguous run of up to
`BUCKET_SIZE` bars as little-endian binary arrays, so a million bars are a hundred
documents, not a million.

An import writes a new version of the symbol's buckets, switches the catalog to it and
only then removes the old version, so readers never see a half-written symbol.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import numpy as np
from bson import Binary
from pymongo import ASCENDING
from pymongo.database import Database

from backend_services.market_data.bars import Bars, MarketDataError, concatenate, detect_timeframe
from backend_services.market_data.catalog import (
    BARS_COLLECTION,
    BARS_INDEX_KEYS,
    CATALOG_COLLECTION,
    SymbolEntry,
)
from backend_services.market_data.csv_import import SAMPLE_FILES, read_sample

BUCKET_SIZE = 10_000
_PRICE_COLUMNS = ("open", "high", "low", "close", "volume")

Document = dict[str, Any]


def ensure_indexes(db: Database[Document]) -> None:
    db[BARS_COLLECTION].create_index(BARS_INDEX_KEYS, unique=True)


def validate(bars: Bars) -> None:
    """Refuse bars a backtest could not trust, naming the first offending row."""
    if len(bars) == 0:
        raise MarketDataError("no bars to import")
    checks = [
        (np.diff(bars.time) <= 0, "timestamps must be strictly increasing"),
        (
            ~np.isfinite(np.stack([bars.open, bars.high, bars.low, bars.close, bars.volume])).all(
                axis=0
            ),
            "prices and volume must be finite numbers",
        ),
        (
            np.minimum.reduce([bars.open, bars.high, bars.low, bars.close]) <= 0,
            "prices must be positive",
        ),
        (bars.high < bars.low, "high is below low"),
        (
            (bars.open > bars.high)
            | (bars.open < bars.low)
            | (bars.close > bars.high)
            | (bars.close < bars.low),
            "open and close must lie between low and high",
        ),
        (bars.volume < 0, "volume must not be negative"),
    ]
    for failed, reason in checks:
        rows = np.flatnonzero(failed)
        if rows.size:
            raise MarketDataError(f"row {int(rows[0]) + 1}: {reason} ({rows.size} rows affected)")


def import_bars(db: Database[Document], symbol: str, bars: Bars) -> SymbolEntry:
    """Store `bars` as the new version of `symbol`, replacing what was there."""
    validate(bars)
    timeframe = detect_timeframe(bars.time)
    current = db[CATALOG_COLLECTION].find_one({"_id": symbol})
    version = (current["version"] + 1) if current else 1
    buckets = [
        _bucket_document(symbol, version, seq, bars, start)
        for seq, start in enumerate(range(0, len(bars), BUCKET_SIZE))
    ]
    db[BARS_COLLECTION].delete_many({"symbol": symbol, "version": version})
    db[BARS_COLLECTION].insert_many(buckets, ordered=True)
    entry = SymbolEntry(
        symbol=symbol,
        timeframe=timeframe,
        first=_to_datetime(int(bars.time[0])),
        last=_to_datetime(int(bars.time[-1])),
        rows=len(bars),
        version=version,
    )
    db[CATALOG_COLLECTION].replace_one(
        {"_id": symbol}, {"_id": symbol, **entry.model_dump()}, upsert=True
    )
    db[BARS_COLLECTION].delete_many({"symbol": symbol, "version": {"$ne": version}})
    return entry


def find_symbol(db: Database[Document], symbol: str) -> SymbolEntry:
    document = db[CATALOG_COLLECTION].find_one({"_id": symbol})
    if document is None:
        raise MarketDataError(f"no market data for symbol {symbol!r}")
    return SymbolEntry.model_validate(document)


def load_bars(
    db: Database[Document],
    entry: SymbolEntry,
    start_s: int,
    end_s: int,
    on_bucket: Callable[[float], None] = lambda fraction: None,
) -> Bars:
    """The stored bars of `entry` with open time in [start_s, end_s].

    `on_bucket` is called with the fraction of buckets read so far after each one.
    """
    query = {
        "symbol": entry.symbol,
        "version": entry.version,
        "last": {"$gte": start_s},
        "first": {"$lte": end_s},
    }
    total = db[BARS_COLLECTION].count_documents(query)
    parts: list[Bars] = []
    for document in db[BARS_COLLECTION].find(query).sort("seq", ASCENDING):
        parts.append(_decode_bucket(document))
        on_bucket(len(parts) / total)
    return concatenate(parts).between(start_s, end_s)


def _bucket_document(symbol: str, version: int, seq: int, bars: Bars, start: int) -> Document:
    run = slice(start, start + BUCKET_SIZE)
    time = bars.time[run]
    document: Document = {
        "symbol": symbol,
        "version": version,
        "seq": seq,
        "first": int(time[0]),
        "last": int(time[-1]),
        "count": int(time.shape[0]),
        "time": Binary(time.astype("<i8").tobytes()),
    }
    for column in _PRICE_COLUMNS:
        document[column] = Binary(getattr(bars, column)[run].astype("<f8").tobytes())
    return document


def _decode_bucket(document: Document) -> Bars:
    columns = {name: np.frombuffer(document[name], dtype="<f8") for name in _PRICE_COLUMNS}
    return Bars(time=np.frombuffer(document["time"], dtype="<i8"), **columns)


def _to_datetime(epoch_s: int) -> datetime:
    return datetime.fromtimestamp(epoch_s, tz=UTC)


def load_missing_samples(db: Database[Document], reload: bool = False) -> list[SymbolEntry]:
    """Import the bundled sample series that are not stored yet (all of them if `reload`)."""
    return [
        import_bars(db, symbol, read_sample(symbol))
        for symbol in SAMPLE_FILES
        if reload or db[CATALOG_COLLECTION].find_one({"_id": symbol}) is None
    ]
