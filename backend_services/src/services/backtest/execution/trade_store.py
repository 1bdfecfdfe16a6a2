"""Every trade of a run, in chunks of TRADES_PER_CHUNK, so that no document nears
MongoDB's 16 MB limit however many trades a run makes. A chunk holds its trades as
columns of bytes (times and bar counts as int64, prices as float64, sides, exit
reasons and a portfolio's symbols as one-byte codes): 100,000 trades are twenty
documents of about 330 KB, written and read without a document per trade.

The execution's result carries the first `shared.limits.MAX_INLINE_TRADES`; all are read in
pages. A run with no more trades than that stores no chunk: its result holds them all,
and they are read from there (`inline_page`), so a small backtest costs no write here.
Chunks are tagged with the run that wrote them, and read under the run_id of the
completed record, so a run that was given up on can never mix its trades in.
"""

from __future__ import annotations

from typing import Any, get_args

import numpy as np
from bson import Binary
from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.collection import Collection

from backend_services.services.backtest.backtest_engine import TradeTable
from shared.contracts.results import ExitReason, Trade, trades_from_columns
from shared.limits import MAX_INLINE_TRADES
from shared.mongo import Document

TRADES_COLLECTION = "execution_trades"
TRADES_PER_CHUNK = 5_000
EXIT_REASONS: tuple[ExitReason, ...] = get_args(ExitReason)
_REASON_CODES = {reason: code for code, reason in enumerate(EXIT_REASONS)}
_NUMBER_COLUMNS = {
    "entry_time": "<i8",
    "exit_time": "<i8",
    "entry_price": "<f8",
    "exit_price": "<f8",
    "size": "<f8",
    "pnl": "<f8",
    "return_fraction": "<f8",
    "bars_held": "<i8",
}


def write_trades(
    collection: Collection[Document],
    execution_id: str,
    run_id: str,
    trades: TradeTable,
    first_run: bool,
) -> None:
    """Store a run's trades (none when its result carries them all); unless this is the
    execution's first run, remove those an earlier run may have left."""
    chunks = (
        []
        if len(trades) <= MAX_INLINE_TRADES
        else [
            {
                "execution_id": execution_id,
                "run_id": run_id,
                "seq": seq,
                **_encoded(trades.columns(start, start + TRADES_PER_CHUNK)),
            }
            for seq, start in enumerate(range(0, len(trades), TRADES_PER_CHUNK))
        ]
    )
    if chunks:
        collection.insert_many(chunks, ordered=False)
    if not first_run:
        collection.delete_many({"execution_id": execution_id, "run_id": {"$ne": run_id}})


def inline_page(result: Document, offset: int, limit: int) -> list[Trade] | None:
    """Trades offset .. offset + limit - 1 from a stored result that carries them all;
    None when it carries only the first of them (read them from the chunks)."""
    if int(result["total_trades"]) > MAX_INLINE_TRADES:
        return None
    return [Trade.model_validate(trade) for trade in result["trades"][offset : offset + limit]]


async def read_trades(
    collection: AsyncCollection[Document], execution_id: str, run_id: str, offset: int, limit: int
) -> list[Trade]:
    """Trades offset .. offset + limit - 1 of the run, in order."""
    if limit <= 0:
        return []
    first, last = offset // TRADES_PER_CHUNK, (offset + limit - 1) // TRADES_PER_CHUNK
    cursor = collection.find(
        {"execution_id": execution_id, "run_id": run_id, "seq": {"$gte": first, "$lte": last}}
    ).sort("seq", ASCENDING)
    trades = [trade async for chunk in cursor for trade in _decoded(chunk)]
    start = offset - first * TRADES_PER_CHUNK
    return trades[start : start + limit]


def _encoded(columns: dict[str, Any]) -> Document:
    """A chunk's columns as bytes (little-endian), the exit reasons as their codes."""
    reasons = np.array([_REASON_CODES[reason] for reason in columns["exit_reason"]], np.uint8)
    encoded: Document = {
        "count": len(reasons),
        "long": Binary(np.asarray(columns["long"], dtype=np.uint8).tobytes()),
        "exit_reason": Binary(reasons.tobytes()),
    }
    for name, dtype in _NUMBER_COLUMNS.items():
        encoded[name] = Binary(np.asarray(columns[name], dtype=dtype).tobytes())
    if "symbol" in columns:  # a portfolio's trades: each symbol's code in `symbols`
        symbols, codes = np.unique(np.array(columns["symbol"], dtype=object), return_inverse=True)
        encoded["symbols"] = symbols.tolist()
        encoded["symbol"] = Binary(codes.astype(np.uint8).tobytes())
    return encoded


def _decoded(chunk: Document) -> list[Trade]:
    """A chunk's trades; chunks written before trades were stored as columns hold them
    as documents."""
    if "trades" in chunk:
        return [Trade.model_validate(trade) for trade in chunk["trades"]]
    columns: dict[str, Any] = {
        name: np.frombuffer(chunk[name], dtype=dtype) for name, dtype in _NUMBER_COLUMNS.items()
    }
    columns["long"] = np.frombuffer(chunk["long"], dtype=np.uint8).astype(bool)
    codes = np.frombuffer(chunk["exit_reason"], dtype=np.uint8).tolist()
    columns["exit_reason"] = [EXIT_REASONS[code] for code in codes]
    if "symbol" in chunk:
        names = chunk["symbols"]
        columns["symbol"] = [
            names[code] for code in np.frombuffer(chunk["symbol"], np.uint8).tolist()
        ]
    return trades_from_columns(columns)


async def ensure_trade_indexes(collection: AsyncCollection[Document]) -> None:
    await collection.create_index(
        [("execution_id", ASCENDING), ("run_id", ASCENDING), ("seq", ASCENDING)], unique=True
    )
