"""Every trade of a run, in chunks, so that no document nears MongoDB's 16 MB limit
however many trades a run makes (100,000 trades are twenty documents of about 1 MB).

The execution's result carries the first `shared.limits.MAX_INLINE_TRADES`; all are read in
pages.
Chunks are tagged with the run that wrote them, and read under the run_id of the
completed record, so a run that was given up on can never mix its trades in.
"""

from __future__ import annotations

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.collection import Collection

from backend_services.services.backtest.backtest_engine import TradeTable
from shared.contracts.results import Trade
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
    """Store a run's trades; unless this is the execution's first run, remove those an
    earlier run may have left."""
    chunks = [
        {
            "execution_id": execution_id,
            "run_id": run_id,
            "seq": seq,
            "trades": trades.documents(start, start + TRADES_PER_CHUNK),
        }
        for seq, start in enumerate(range(0, len(trades), TRADES_PER_CHUNK))
    ]
    if chunks:
        collection.insert_many(chunks, ordered=False)
    if not first_run:
        collection.delete_many({"execution_id": execution_id, "run_id": {"$ne": run_id}})


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
