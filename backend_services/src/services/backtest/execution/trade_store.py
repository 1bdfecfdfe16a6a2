"""Every trade of a run, in chunks, so that no document nears MongoDB's 16 MB limit
however many trades a run makes (100,000 trades are twenty documents of about 1 MB).

The execution's result carries the first `shared.limits.MAX_INLINE_TRADES`; all are read in
pages. A run with no more trades than that stores no chunk: its result holds them all,
and they are read from there (`inline_page`), so a small backtest costs no write here.
Chunks are tagged with the run that wrote them, and read under the run_id of the
completed record, so a run that was given up on can never mix its trades in.
"""

from __future__ import annotations

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.collection import Collection

from backend_services.services.backtest.backtest_engine import TradeTable
from shared.contracts.results import Trade
from shared.limits import MAX_INLINE_TRADES
from shared.mongo import Document

TRADES_COLLECTION = "execution_trades"
TRADES_PER_CHUNK = 5_000


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
                "trades": trades.documents(start, start + TRADES_PER_CHUNK),
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
    trades = [trade async for chunk in cursor for trade in chunk["trades"]]
    start = offset - first * TRADES_PER_CHUNK
    return [Trade.model_validate(trade) for trade in trades[start : start + limit]]


async def ensure_trade_indexes(collection: AsyncCollection[Document]) -> None:
    await collection.create_index(
        [("execution_id", ASCENDING), ("run_id", ASCENDING), ("seq", ASCENDING)], unique=True
    )
