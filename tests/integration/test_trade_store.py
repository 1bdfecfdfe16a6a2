"""A run's trades stored as columns in chunks and read back in pages, on a real MongoDB;
chunks stored as one document per trade, before, still read."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime

import numpy as np
import pytest
from helpers import Mongo
from pymongo.database import Database

from backend_services.services.backtest.backtest_engine import BacktestEngine, TradeTable
from backend_services.services.backtest.execution.trade_store import (
    TRADES_COLLECTION,
    TRADES_PER_CHUNK,
    read_trades,
    write_trades,
)
from shared.contracts.backtests import BacktestParams, ResolvedBacktest
from shared.contracts.results import Trade
from shared.contracts.strategies import Costs, StrategySnapshot
from shared.market_data.bars import Bars
from shared.mongo import Document, async_client

pytestmark = pytest.mark.integration


def _many_trades() -> tuple[list[Trade], TradeTable]:
    rng = np.random.default_rng(7)
    n = 60_000
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    bars = Bars(
        time=1_600_000_000 + 60 * np.arange(n, dtype=np.int64),
        open=close,
        high=close * 1.001,
        low=close * 0.999,
        close=close,
        volume=np.ones(n),
    )
    strategy = StrategySnapshot(
        id="s1",
        name="x",
        symbol="X",
        timeframe="1m",
        parameters={"fast": 2, "slow": 3},
        costs=Costs(commission_pct=0.0),
    )
    params = BacktestParams(start_date=datetime(2020, 1, 1), end_date=datetime(2030, 1, 1))
    run = BacktestEngine().run(bars, ResolvedBacktest.resolve(strategy, params), "s1")
    return run.trades.models(len(run.trades)), run.trades


def _read(mongo: Mongo, database: str, execution_id: str, offset: int, limit: int) -> list[Trade]:
    async def read() -> list[Trade]:
        client = async_client(mongo.url)
        try:
            collection = client[database][TRADES_COLLECTION]
            return await read_trades(collection, execution_id, "r1", offset, limit)
        finally:
            await client.close()

    return asyncio.run(read())


def test_trades_stored_as_columns_read_back_page_by_page(
    mongo: Mongo, db: Database[Document]
) -> None:
    every, table = _many_trades()
    assert len(every) > 2 * TRADES_PER_CHUNK
    execution_id = str(uuid.uuid4())

    write_trades(db[TRADES_COLLECTION], execution_id, "r1", table, first_run=True)

    assert db[TRADES_COLLECTION].count_documents({"execution_id": execution_id}) == -(
        -len(every) // TRADES_PER_CHUNK
    )
    offset = TRADES_PER_CHUNK - 3  # a page across two chunks
    assert _read(mongo, db.name, execution_id, offset, 10) == every[offset : offset + 10]
    assert _read(mongo, db.name, execution_id, 0, len(every)) == every


def test_chunks_stored_as_documents_before_are_still_read(
    mongo: Mongo, db: Database[Document]
) -> None:
    every, _ = _many_trades()
    execution_id = str(uuid.uuid4())
    db[TRADES_COLLECTION].insert_one(
        {
            "execution_id": execution_id,
            "run_id": "r1",
            "seq": 0,
            "trades": [trade.model_dump() for trade in every[:TRADES_PER_CHUNK]],
        }
    )

    assert _read(mongo, db.name, execution_id, 5, 20) == every[5:25]


def test_column_chunks_written_before_the_per_trade_analysis_are_still_read(
    mongo: Mongo, db: Database[Document]
) -> None:
    every, table = _many_trades()
    execution_id = str(uuid.uuid4())
    write_trades(db[TRADES_COLLECTION], execution_id, "r1", table, first_run=True)
    added = ["duration_seconds", "notional", "commission", "run_up", "drawdown"]
    db[TRADES_COLLECTION].update_many(
        {"execution_id": execution_id}, {"$unset": dict.fromkeys(added, "")}
    )

    read = _read(mongo, db.name, execution_id, 5, 20)

    assert [trade.model_dump(exclude=set(added)) for trade in read] == [
        trade.model_dump(exclude=set(added)) for trade in every[5:25]
    ]
    assert all(getattr(trade, name) is None for trade in read for name in added)
    assert every[5].run_up is not None
