"""Bars in MongoDB as column buckets: each document packs a contiguous run of up to
`BUCKET_SIZE` bars as little-endian binary arrays, so a million bars are a hundred
documents, not a million.

Every import writes a new version of the symbol's buckets, under a version number no
other import can hold, and only then switches the catalog to it, on the condition that
nobody switched it meanwhile. Readers therefore never see a half-written symbol, and a
failed or interrupted import leaves the previous data as it was. The version before the
current one is kept, so a backtest that started reading it can finish; older ones are
removed at the next switch.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np
from bson import Binary
from pymongo import ASCENDING, ReturnDocument
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from backend_services.market_data.bar_files import BarFiles
from shared.market_data.bars import Bars, MarketDataError, concatenate
from shared.market_data.catalog import (
    BARS_COLLECTION,
    BARS_INDEX_KEYS,
    CATALOG_COLLECTION,
    VERSIONS_COLLECTION,
    SymbolEntry,
)
from shared.mongo import Document
from shared.timeframes import utc_datetime

__all__ = [
    "BUCKET_SIZE",
    "ImportConflict",
    "ensure_indexes",
    "find_symbol",
    "find_symbol_named_alike",
    "find_symbol_or_none",
    "load_bars",
    "write_version",
]

BUCKET_SIZE = 10_000
# Buckets encoded and sent at a time (about 8 MB), so a large import never holds a
# second copy of its bars as documents.
_BUCKETS_PER_INSERT = 16
_PRICE_COLUMNS = ("open", "high", "low", "close", "volume")
# The catalog field holding a symbol's name in lower case: unique, so `acme` cannot be
# stored beside `ACME` even by two imports racing (entries stored before it was kept
# lack it, hence sparse, and are found by `find_symbol_named_alike`).
_FOLDED_NAME = "folded"


class ImportConflict(MarketDataError):
    """Another import of the same symbol switched the catalog first."""


def ensure_indexes(db: Database[Document]) -> None:
    db[BARS_COLLECTION].create_index(BARS_INDEX_KEYS, unique=True)
    db[CATALOG_COLLECTION].create_index(_FOLDED_NAME, unique=True, sparse=True)


def find_symbol_or_none(db: Database[Document], symbol: str) -> SymbolEntry | None:
    document = db[CATALOG_COLLECTION].find_one({"_id": symbol})
    return SymbolEntry.model_validate(document) if document else None


def find_symbol_named_alike(db: Database[Document], symbol: str) -> str | None:
    """A stored symbol whose name differs from `symbol` in case only, if any."""
    document = db[CATALOG_COLLECTION].find_one(
        {
            "_id": {"$regex": f"^{re.escape(symbol)}$", "$options": "i", "$ne": symbol},
        },
        {"_id": 1},
    )
    return str(document["_id"]) if document else None


def find_symbol(db: Database[Document], symbol: str) -> SymbolEntry:
    entry = find_symbol_or_none(db, symbol)
    if entry is None:
        raise MarketDataError(f"no market data for symbol {symbol!r}")
    return entry


def write_version(
    db: Database[Document],
    bars: Bars,
    replacing: SymbolEntry | None,
    entry_fields: dict[str, Any],
    files: BarFiles | None = None,
) -> SymbolEntry:
    """Store `bars` as a new version and switch the catalog to it (and keep them in
    `files` on this machine's disk, for the workers here).

    `replacing` is the entry this import read before it started (None for a new symbol);
    if the catalog no longer holds it, ImportConflict, and nothing changes.
    `entry_fields` are the catalog fields beyond the bars' own (symbol, timeframe, owner,
    session start, gap count).
    """
    symbol: str = entry_fields["symbol"]
    version = _reserve_version(db, symbol)
    entry = SymbolEntry(
        **entry_fields,
        first=utc_datetime(int(bars.time[0])),
        last=utc_datetime(int(bars.time[-1])),
        rows=len(bars),
        version=version,
        import_id=uuid.uuid4().hex,
    )
    starts = range(0, len(bars), BUCKET_SIZE)
    for first in range(0, len(starts), _BUCKETS_PER_INSERT):
        batch = enumerate(starts[first : first + _BUCKETS_PER_INSERT], start=first)
        db[BARS_COLLECTION].insert_many(
            [_bucket_document(symbol, version, seq, bars, start) for seq, start in batch],
            ordered=False,
        )
    if not _switch(db, entry, replacing):
        db[BARS_COLLECTION].delete_many({"symbol": symbol, "version": version})
        raise ImportConflict(f"{symbol} was changed by another import meanwhile; try again")
    if replacing is not None:
        db[BARS_COLLECTION].delete_many({"symbol": symbol, "version": {"$lt": replacing.version}})
    if files is not None:
        files.write(entry, bars)
    return entry


def load_bars(
    db: Database[Document],
    entry: SymbolEntry,
    start_s: int | None = None,
    end_s: int | None = None,
    on_bucket: Callable[[float], None] = lambda fraction: None,
) -> Bars:
    """The stored bars of `entry` with open time in [start_s, end_s] (all if not given).

    `on_bucket` is called with the fraction of buckets read so far after each one.
    """
    query: Document = {"symbol": entry.symbol, "version": entry.version}
    if start_s is not None:
        query["last"] = {"$gte": start_s}
    if end_s is not None:
        query["first"] = {"$lte": end_s}
    total = db[BARS_COLLECTION].count_documents(query)
    parts: list[Bars] = []
    for document in db[BARS_COLLECTION].find(query).sort("seq", ASCENDING):
        parts.append(decode_bucket(document))
        on_bucket(len(parts) / total)
    bars = concatenate(parts)
    if start_s is None and end_s is None:
        return bars
    lowest, highest = np.iinfo(np.int64).min, np.iinfo(np.int64).max
    return bars.between(lowest if start_s is None else start_s, highest if end_s is None else end_s)


def _reserve_version(db: Database[Document], symbol: str) -> int:
    current = db[CATALOG_COLLECTION].find_one({"_id": symbol}, {"version": 1})
    floor = current["version"] if current else 0
    versions = db[VERSIONS_COLLECTION]
    counter = versions.find_one_and_update(
        {"_id": symbol}, {"$inc": {"last": 1}}, upsert=True, return_document=ReturnDocument.AFTER
    )
    version: int = counter["last"] if counter else 0
    if version <= floor:  # the counter was lost or the catalog restored: move it past
        versions.update_one({"_id": symbol}, {"$max": {"last": floor}}, upsert=True)
        return _reserve_version(db, symbol)
    return version


def _switch(db: Database[Document], entry: SymbolEntry, replacing: SymbolEntry | None) -> bool:
    document = {"_id": entry.symbol, _FOLDED_NAME: entry.symbol.lower(), **entry.model_dump()}
    if replacing is None:
        try:
            db[CATALOG_COLLECTION].insert_one(document)
        except DuplicateKeyError:
            return False
        return True
    switched = db[CATALOG_COLLECTION].replace_one(
        {"_id": entry.symbol, "version": replacing.version}, document
    )
    return switched.matched_count == 1


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


def decode_bucket(document: Document) -> Bars:
    """A stored bucket's bars (views of its bytes: nothing is copied)."""
    columns = {name: np.frombuffer(document[name], dtype="<f8") for name in _PRICE_COLUMNS}
    return Bars(time=np.frombuffer(document["time"], dtype="<i8"), **columns)
