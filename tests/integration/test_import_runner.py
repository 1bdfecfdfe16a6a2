"""The import processes: each import held to its time and memory limits and refused in
words past them, the process replaced; one member's slow import never holds another's,
and a member has one import at a time."""

from __future__ import annotations

import asyncio
import contextlib
import io
import uuid
from collections.abc import AsyncIterator, Callable

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import Mongo
from pymongo.database import Database

from backend_services.market_data.import_limits import ImportLimits
from backend_services.market_data.import_runner import ImportRunner
from shared.contracts.market_data import ImportOptions, TableFormat
from shared.errors import Conflict, PayloadTooLarge
from shared.market_data.catalog import CATALOG_COLLECTION
from shared.mongo import Document

pytestmark = pytest.mark.integration

START_S = 1_600_000_000 // 60 * 60


def minute_bars_parquet(rows: int) -> bytes:
    """`rows` minute bars of one price: a few hundred kilobytes that expand to
    48 bytes a row."""
    columns = {"timestamp": pa.array(START_S + 60 * np.arange(rows, dtype=np.int64))}
    columns |= {name: pa.array(np.ones(rows)) for name in ("open", "high", "low", "close")}
    columns["volume"] = pa.array(np.ones(rows))
    buffer = io.BytesIO()
    pq.write_table(pa.table(columns), buffer, compression="zstd")
    return buffer.getvalue()


SMALL_FILE = minute_bars_parquet(100)


def new_symbol() -> str:
    return f"R{uuid.uuid4().hex[:8].upper()}"


RunnerFactory = Callable[..., ImportRunner]


@pytest.fixture
async def start_runner(mongo: Mongo) -> AsyncIterator[RunnerFactory]:
    runners: list[ImportRunner] = []

    def start(slots: int = 1, **limits: float) -> ImportRunner:
        runner = ImportRunner(mongo.url, mongo.database_name, ImportLimits(**limits), slots)
        runners.append(runner)
        return runner

    yield start
    for runner in runners:
        runner.close()


async def run(runner: ImportRunner, content: bytes, symbol: str, owner: str = "alice") -> None:
    options = ImportOptions(symbol=symbol, owner_id=owner)
    await runner.run(content, TableFormat.PARQUET, options)


async def test_an_import_past_its_time_limit_is_stopped_and_refused_in_words(
    start_runner: RunnerFactory, db: Database[Document]
) -> None:
    runner = start_runner(timeout_s=1)
    symbol = new_symbol()

    with pytest.raises(PayloadTooLarge, match="took longer than the 1 s an import may take"):
        await run(runner, minute_bars_parquet(5_000_000), symbol)

    assert db[CATALOG_COLLECTION].find_one({"_id": symbol}) is None
    await run(runner, SMALL_FILE, symbol)  # a new import process took the slot
    assert db[CATALOG_COLLECTION].find_one({"_id": symbol}) is not None


async def test_an_import_past_its_memory_limit_is_refused_in_words_and_its_process_replaced(
    start_runner: RunnerFactory, db: Database[Document]
) -> None:
    runner = start_runner(memory_mb=800)
    symbol = new_symbol()

    with pytest.raises(PayloadTooLarge, match="more than the 800 MiB of memory an import may"):
        await run(runner, minute_bars_parquet(5_000_000), symbol)

    assert db[CATALOG_COLLECTION].find_one({"_id": symbol}) is None
    await run(runner, SMALL_FILE, symbol)
    assert db[CATALOG_COLLECTION].find_one({"_id": symbol}) is not None


async def test_a_slow_import_holds_neither_another_members_import_nor_a_slot_once_cancelled(
    start_runner: RunnerFactory, db: Database[Document]
) -> None:
    runner = start_runner(slots=2)
    slow = asyncio.create_task(run(runner, minute_bars_parquet(2_000_000), new_symbol(), "alice"))
    await asyncio.sleep(0)  # alice's import has taken a slot

    await asyncio.wait_for(run(runner, SMALL_FILE, new_symbol(), "bob"), timeout=30)

    assert not slow.done()
    with pytest.raises(Conflict, match="another upload of yours is being imported"):
        await run(runner, SMALL_FILE, new_symbol(), "alice")  # one at a time, not in line
    slow.cancel()  # a member gone: the import is stopped and its slot freed
    with contextlib.suppress(asyncio.CancelledError):
        await slow
    await asyncio.wait_for(run(runner, SMALL_FILE, new_symbol(), "alice"), timeout=30)
    await asyncio.wait_for(run(runner, SMALL_FILE, new_symbol(), "carol"), timeout=30)
    await asyncio.wait_for(run(runner, SMALL_FILE, new_symbol(), "dave"), timeout=30)
