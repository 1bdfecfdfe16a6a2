"""Market data: import, cold load, warm load, and one-document-per-bar for comparison.

    .venv/bin/python bench/data.py [--bars 1000000] [--repeat 3]

Uses MONGO_URL when it answers, otherwise starts the embedded MongoDB on a free port;
works in a throw-away database either way. Measures, on the same synthetic minute bars:

- import: a CSV file of the bars parsed, checked and stored (column buckets);
- cold load: every bar read back from MongoDB into arrays;
- warm load: the same series from a worker's cache (what a repeated backtest does);
- per-bar: the same bars stored one document per bar, and read back into arrays.

Prints each figure (the median of --repeat runs for loads) and the two targets: warm load
under 5 ms, cold load at least 10x faster than per-bar.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pymongo import ASCENDING
from pymongo.database import Database

from backend_services.market_data.importer import import_table
from backend_services.market_data.store import ensure_indexes, find_symbol, load_bars
from backend_services.market_data.table_files import read_table
from backend_services.services.backtest.execution.bars_cache import BarsCache
from backend_services.services.backtest.execution.series import load_series
from botclub.local_stack import free_port, mongo_reachable, start_embedded_mongo
from shared.contracts.market_data import ImportOptions, TableFormat
from shared.mongo import Document, sync_client

SYMBOL = "BENCH"
PER_BAR_COLLECTION = "bars_one_per_document"
PER_BAR_BATCH = 10_000
WARM_TARGET_S = 0.005
COLD_SPEEDUP_TARGET = 10.0


def synthetic_csv(count: int) -> bytes:
    rng = np.random.default_rng(42)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.0005, count)))
    open_ = np.concatenate([[close[0]], close[:-1]])
    frame = pd.DataFrame(
        {
            "timestamp": 1_600_000_020 // 60 * 60 + 60 * np.arange(count, dtype=np.int64),
            "open": open_,
            "high": np.maximum(open_, close) * 1.0002,
            "low": np.minimum(open_, close) * 0.9998,
            "close": close,
            "volume": rng.integers(1, 1_000, count),
        }
    )
    return frame.to_csv(index=False).encode()


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def median_time(action: Callable[[], object], repeat: int) -> float:
    return statistics.median(timed(action) for _ in range(repeat))


def store_per_bar(db: Database[Document], content: bytes) -> None:
    """The naive layout: one document per bar, indexed by symbol and time."""
    table = read_table(content, TableFormat.CSV)
    collection = db[PER_BAR_COLLECTION]
    collection.create_index([("symbol", ASCENDING), ("time", ASCENDING)], unique=True)
    for start in range(0, len(table), PER_BAR_BATCH):
        run = slice(start, start + PER_BAR_BATCH)
        collection.insert_many(
            [
                {
                    "symbol": SYMBOL,
                    "time": t,
                    "open": o,
                    "high": h,
                    "low": lo,
                    "close": c,
                    "volume": v,
                }
                for t, o, h, lo, c, v in zip(
                    table.time[run].tolist(),
                    table.open[run].tolist(),
                    table.high[run].tolist(),
                    table.low[run].tolist(),
                    table.close[run].tolist(),
                    table.volume[run].tolist(),
                    strict=True,
                )
            ],
            ordered=False,
        )


def load_per_bar(db: Database[Document]) -> np.ndarray[Any, np.dtype[np.float64]]:
    cursor = db[PER_BAR_COLLECTION].find({"symbol": SYMBOL}, {"_id": 0, "symbol": 0})
    rows = [
        (d["time"], d["open"], d["high"], d["low"], d["close"], d["volume"])
        for d in cursor.sort("time", ASCENDING).batch_size(PER_BAR_BATCH)
    ]
    return np.array(rows, dtype=np.float64)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    mongo_url = os.environ.get("MONGO_URL", "")
    embedded = None
    work = Path(tempfile.mkdtemp(prefix="botclub-data-"))
    if not (mongo_url and mongo_reachable(mongo_url)):
        port = free_port()
        embedded = start_embedded_mongo(work / "mongo", port, work)
        mongo_url = f"mongodb://127.0.0.1:{port}"
        print("MongoDB: embedded nx-27017")
    else:
        print(f"MongoDB: {mongo_url}")
    client = sync_client(mongo_url)
    database_name = f"botclub_data_{uuid.uuid4().hex[:8]}"
    db = client[database_name]
    try:
        ensure_indexes(db)
        content = synthetic_csv(args.bars)
        print(f"{args.bars:,} one-minute bars, CSV of {len(content) / 1e6:.0f} MB")

        parse_s = timed(lambda: read_table(content, TableFormat.CSV))
        import_s = timed(
            lambda: import_table(
                db, read_table(content, TableFormat.CSV), ImportOptions(symbol=SYMBOL)
            )
        )
        entry = find_symbol(db, SYMBOL)
        cold_s = median_time(lambda: load_bars(db, entry), args.repeat)
        cache = BarsCache(1 << 30)
        load_series(db, cache, SYMBOL, entry.timeframe, entry.version)
        warm_s = median_time(
            lambda: load_series(db, cache, SYMBOL, entry.timeframe, entry.version), 101
        )
        per_bar_store_s = timed(lambda: store_per_bar(db, content))
        per_bar_load_s = median_time(lambda: load_per_bar(db), args.repeat)
        check = load_per_bar(db)
        assert np.array_equal(check[:, 4], load_bars(db, entry).close)
    finally:
        client.drop_database(database_name)
        client.close()
        if embedded is not None:
            embedded.stop()

    speedup = per_bar_load_s / cold_s
    print(f"import (parse + check + store):  {import_s:8.2f} s   (parse alone {parse_s:.2f} s)")
    print(f"cold load from column buckets:   {cold_s * 1e3:8.1f} ms")
    print(f"warm load from the worker cache: {warm_s * 1e3:8.4f} ms   (target < 5 ms)")
    print(f"per-bar documents, store:        {per_bar_store_s:8.2f} s")
    print(f"per-bar documents, load:         {per_bar_load_s * 1e3:8.1f} ms")
    print(
        f"cold load vs per-bar load:       {speedup:8.1f}x   (target >= {COLD_SPEEDUP_TARGET:.0f}x)"
    )
    met = warm_s < WARM_TARGET_S and speedup >= COLD_SPEEDUP_TARGET
    print("targets met" if met else "targets NOT met")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
