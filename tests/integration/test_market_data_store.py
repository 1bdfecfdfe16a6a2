"""Imports into MongoDB: versions switched atomically, appends, ownership, and the
worker's cache that makes a repeated load read nothing."""

from __future__ import annotations

import uuid
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from backend_services.market_data import store
from backend_services.market_data.bar_files import BarFiles
from backend_services.market_data.import_limits import TooLarge
from backend_services.market_data.importer import NameTaken, NotOwner, import_table
from backend_services.market_data.store import BUCKET_SIZE, ImportConflict, find_symbol, load_bars
from backend_services.market_data.table_files import RawTable
from backend_services.market_data.validation import InvalidBars
from backend_services.services.backtest.execution.bars_cache import BarsCache
from backend_services.services.backtest.execution.series import load_series
from shared.contracts.market_data import ImportMode, ImportOptions
from shared.market_data.bars import MarketDataError
from shared.market_data.catalog import BARS_COLLECTION, CATALOG_COLLECTION
from shared.mongo import Document

HOUR = 3_600
START = 1_600_000_000 // HOUR * HOUR


def hourly(n: int, start: int = START, price: float = 100.0) -> RawTable:
    close = price + np.arange(n, dtype=float) * 0.01
    return RawTable(
        time=start + HOUR * np.arange(n, dtype=np.int64),
        open=close,
        high=close + 0.5,
        low=close - 0.5,
        close=close,
        volume=np.ones(n),
    )


def new_symbol() -> str:
    return f"T{uuid.uuid4().hex[:8].upper()}"


def test_a_symbol_is_stored_in_buckets_and_read_back(db: Database[Document]) -> None:
    symbol = new_symbol()
    table = hourly(BUCKET_SIZE * 2 + 5)

    outcome = import_table(db, table, ImportOptions(symbol=symbol, owner_id="alice"))

    assert outcome.entry is not None
    assert (outcome.entry.timeframe, outcome.entry.rows, outcome.entry.version) == (
        "1h",
        len(table),
        1,
    )
    assert outcome.report.rows_stored == len(table)
    assert db[BARS_COLLECTION].count_documents({"symbol": symbol}) == 3
    bars = load_bars(db, outcome.entry)
    assert np.array_equal(bars.close, table.close)
    assert np.array_equal(bars.time, table.time)


def test_a_refused_import_leaves_the_stored_version(db: Database[Document]) -> None:
    symbol = new_symbol()
    import_table(db, hourly(50), ImportOptions(symbol=symbol))
    bad = hourly(60, price=200.0)
    bad.high[10] = 1.0  # below its low

    with pytest.raises(InvalidBars):
        import_table(db, bad, ImportOptions(symbol=symbol))

    entry = find_symbol(db, symbol)
    assert (entry.version, entry.rows) == (1, 50)
    assert load_bars(db, entry).close[0] == 100.0


def test_an_import_that_dies_midway_leaves_the_stored_version(db: Database[Document]) -> None:
    symbol = new_symbol()
    import_table(db, hourly(50), ImportOptions(symbol=symbol))

    died = ConnectionError("died")
    with mock.patch.object(store, "_switch", side_effect=died), pytest.raises(ConnectionError):
        import_table(db, hourly(80, price=300.0), ImportOptions(symbol=symbol))

    entry = find_symbol(db, symbol)
    assert (entry.version, entry.rows) == (1, 50)
    assert load_bars(db, entry).close[0] == 100.0
    # The next import takes a version number the dead one never switched to.
    outcome = import_table(db, hourly(70), ImportOptions(symbol=symbol))
    assert outcome.entry is not None
    assert outcome.entry.version == 3


def test_a_concurrent_switch_makes_the_later_import_fail_cleanly(db: Database[Document]) -> None:
    symbol = new_symbol()
    import_table(db, hourly(50), ImportOptions(symbol=symbol))
    read_before_the_other_import = find_symbol(db, symbol)
    import_table(db, hourly(60), ImportOptions(symbol=symbol))

    with (
        mock.patch(
            "backend_services.market_data.importer.find_symbol_or_none",
            return_value=read_before_the_other_import,
        ),
        pytest.raises(ImportConflict),
    ):
        import_table(db, hourly(70), ImportOptions(symbol=symbol))

    entry = find_symbol(db, symbol)
    assert (entry.version, entry.rows) == (2, 60)
    assert db[BARS_COLLECTION].count_documents({"symbol": symbol, "version": 3}) == 0


def test_the_previous_version_is_kept_for_readers_and_older_ones_removed(
    db: Database[Document],
) -> None:
    symbol = new_symbol()
    for n in (10, 20, 30):
        import_table(db, hourly(n), ImportOptions(symbol=symbol))

    versions = db[BARS_COLLECTION].distinct("version", {"symbol": symbol})

    assert sorted(versions) == [2, 3]


def test_append_adds_only_newer_bars(db: Database[Document]) -> None:
    symbol = new_symbol()
    import_table(db, hourly(100), ImportOptions(symbol=symbol, owner_id="alice"))
    overlapping = hourly(30, start=START + 90 * HOUR)  # 10 already stored, 20 new

    outcome = import_table(
        db, overlapping, ImportOptions(symbol=symbol, mode=ImportMode.APPEND, owner_id="alice")
    )

    assert outcome.entry is not None
    assert (outcome.entry.rows, outcome.entry.version) == (120, 2)
    assert (outcome.report.already_stored, outcome.report.rows_stored) == (10, 20)
    bars = load_bars(db, outcome.entry)
    assert np.all(np.diff(bars.time) == HOUR)

    nothing_new = import_table(
        db, hourly(5), ImportOptions(symbol=symbol, mode=ImportMode.APPEND, owner_id="alice")
    )
    assert nothing_new.entry is None
    assert nothing_new.report.already_stored == 5


def test_append_of_another_timeframe_is_refused(db: Database[Document]) -> None:
    symbol = new_symbol()
    import_table(db, hourly(10), ImportOptions(symbol=symbol))
    minutes = hourly(500, start=START + 20 * HOUR)
    minutes = RawTable(
        START + 20 * HOUR + 60 * np.arange(500, dtype=np.int64),
        minutes.open,
        minutes.high,
        minutes.low,
        minutes.close,
        minutes.volume,
    )

    with pytest.raises(MarketDataError, match="stored as 1h bars"):
        import_table(db, minutes, ImportOptions(symbol=symbol, mode=ImportMode.APPEND))


def test_an_append_past_the_bars_a_symbol_may_hold_is_refused(db: Database[Document]) -> None:
    symbol = new_symbol()
    import_table(db, hourly(100), ImportOptions(symbol=symbol), max_rows=120)
    append = ImportOptions(symbol=symbol, mode=ImportMode.APPEND)

    with pytest.raises(TooLarge, match=f"{symbol} holds 100 bars; 30 more would pass the 120"):
        import_table(db, hourly(30, start=START + 100 * HOUR), append, max_rows=120)
    assert find_symbol(db, symbol).rows == 100
    import_table(db, hourly(20, start=START + 100 * HOUR), append, max_rows=120)
    assert find_symbol(db, symbol).rows == 120


def test_symbol_names_are_unique_regardless_of_case(db: Database[Document]) -> None:
    symbol = new_symbol()
    import_table(db, hourly(10), ImportOptions(symbol=symbol))

    with pytest.raises(NameTaken, match=f"{symbol} is stored already"):
        import_table(db, hourly(10), ImportOptions(symbol=symbol.lower()))
    with pytest.raises(DuplicateKeyError):  # two imports racing past that check
        db[CATALOG_COLLECTION].insert_one({"_id": symbol.lower(), "folded": symbol.lower()})
    assert find_symbol(db, symbol).rows == 10


def test_only_the_owner_changes_a_symbol(db: Database[Document]) -> None:
    symbol = new_symbol()
    import_table(db, hourly(10), ImportOptions(symbol=symbol, owner_id="alice"))

    with pytest.raises(NotOwner):
        import_table(db, hourly(20), ImportOptions(symbol=symbol, owner_id="bob"))
    assert find_symbol(db, symbol).owner_id == "alice"


def test_a_repeated_load_reads_nothing_from_mongodb(db: Database[Document]) -> None:
    symbol = new_symbol()
    outcome = import_table(db, hourly(BUCKET_SIZE + 100), ImportOptions(symbol=symbol))
    assert outcome.entry is not None
    cache = BarsCache(64 << 20)

    first = load_series(db, cache, symbol, "4h", outcome.entry.version)
    with mock.patch.object(db, "__getitem__", side_effect=AssertionError("MongoDB was read")):
        again = load_series(db, cache, symbol, "4h", outcome.entry.version)

    assert again.bars is first.bars
    assert again.version == outcome.entry.version
    assert len(cache) == 2  # the stored 1h series and the 4h one made from it


def test_a_new_version_is_loaded_even_if_an_old_one_is_cached(db: Database[Document]) -> None:
    symbol = new_symbol()
    import_table(db, hourly(50), ImportOptions(symbol=symbol))
    cache = BarsCache(64 << 20)
    old = load_series(db, cache, symbol, "1h", expected_version=None)
    import_table(db, hourly(50, price=500.0), ImportOptions(symbol=symbol))

    new = load_series(db, cache, symbol, "1h", expected_version=None)

    assert (old.version, new.version) == (1, 2)
    assert new.bars.close[0] == 500.0


def test_bars_just_imported_are_mapped_from_this_machines_file_not_read_back(
    db: Database[Document], tmp_path: Path
) -> None:
    symbol, files = new_symbol(), BarFiles(tmp_path)
    outcome = import_table(db, hourly(BUCKET_SIZE + 7), ImportOptions(symbol=symbol), files=files)
    assert outcome.entry is not None
    db[BARS_COLLECTION].delete_many({"symbol": symbol})  # nothing left to read in MongoDB

    series = load_series(db, BarsCache(1 << 30), symbol, "1h", None, files=files)

    assert series.version == outcome.entry.version
    assert np.array_equal(series.bars.close, hourly(BUCKET_SIZE + 7).close)


def test_bars_read_from_mongodb_are_kept_in_a_file_for_the_next_worker(
    db: Database[Document], tmp_path: Path
) -> None:
    symbol, files = new_symbol(), BarFiles(tmp_path)
    import_table(db, hourly(500), ImportOptions(symbol=symbol))  # no file: an admin's import

    first = load_series(db, BarsCache(1 << 30), symbol, "1h", None, files=files)
    db[BARS_COLLECTION].delete_many({"symbol": symbol})
    another_worker = load_series(db, BarsCache(1 << 30), symbol, "1h", None, files=files)

    assert np.array_equal(another_worker.bars.time, first.bars.time)
