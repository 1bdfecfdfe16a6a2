"""Uploads at and beyond the import's bounds: how fast the hostile ones are refused, and
how much memory the largest allowed one takes.

    .venv/bin/python bench/upload_limits.py [--skip-largest]

Starts its own stack (default limits: MAX_UPLOAD_MB 200, MAX_IMPORT_ROWS 5,000,000,
MAX_IMPORT_COLUMNS 100, IMPORT_MEMORY_MB 2048) and generates its files in a temporary
folder:

- a CSV file with a million columns (10 MB), and a Parquet file of 30 million rows that
  compresses to under a megabyte: each uploaded through the API, timed to its refusal;
- the largest files the limits allow: a CSV file of MAX_UPLOAD_MB with ISO 8601 times
  (as many rows as fit), one of MAX_IMPORT_ROWS rows with epoch times, and Parquet
  files of MAX_IMPORT_ROWS rows (text times; timestamps): each imported through the
  API, timed, then imported again by an import process of this benchmark's own (the
  same code and limits) whose peak resident and virtual memory are read from /proc.

Prints each figure; exits 1 when a hostile file is not refused within a second, or an
allowed one is not imported.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from throwaway_stack import throwaway_stack

from backend_services.market_data.import_limits import ImportLimits
from backend_services.market_data.import_runner import ImportRunner
from shared.contracts.market_data import ImportOptions, TableFormat

REFUSAL_TARGET_S = 1.0
MAX_UPLOAD_MB = 200
START_S = 1_262_304_000  # 2010-01-01, a minute bar every 60 s from there
PARQUET = {"Content-Type": "application/vnd.apache.parquet"}
CSV = {"Content-Type": "text/csv"}


def million_columns_csv(path: Path) -> None:
    names = ["date", "open", "high", "low", "close", "volume"]
    names += [f"c{i}" for i in range(1_000_000 - len(names))]
    path.write_text(",".join(names) + "\n" + "2020-01-01" + ",1" * (len(names) - 1) + "\n")


def thirty_million_rows_parquet(path: Path) -> None:
    """30 M minute bars of one price, a million at a time: delta-encoded times and
    one-value dictionaries make them under a megabyte."""
    names = ("open", "high", "low", "close", "volume")
    schema = pa.schema([("timestamp", pa.int64())] + [(name, pa.float64()) for name in names])
    ones = pa.array(np.ones(1_000_000))
    with pq.ParquetWriter(
        path,
        schema,
        compression="zstd",
        use_dictionary=list(names),
        column_encoding={"timestamp": "DELTA_BINARY_PACKED"},
    ) as writer:
        for first in range(0, 30_000_000, 1_000_000):
            times = pa.array(START_S + 60 * np.arange(first, first + 1_000_000, dtype=np.int64))
            writer.write_table(pa.Table.from_arrays([times, *[ones] * len(names)], schema=schema))


def walk(rows: int, price: float = 100.0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    close = np.round(price * np.exp(np.cumsum(rng.normal(0, 0.0005, rows))), 4)
    open_ = np.concatenate([[close[0]], close[:-1]])
    return {
        "open": open_,
        "high": np.maximum(open_, close) + 0.01,
        "low": np.minimum(open_, close) - 0.01,
        "close": close,
        "volume": rng.integers(1, 1_000, rows).astype(np.float64),
    }


def iso_times(rows: int) -> np.ndarray:
    return np.datetime_as_string((START_S + 60 * np.arange(rows)).astype("datetime64[s]"))


def write_csv(
    path: Path, times: np.ndarray, limit_bytes: int, price: float = 100.0, decimals: int = 4
) -> int:
    """The bars as CSV, cut after the last whole row within `limit_bytes`; rows kept."""
    frame = pd.DataFrame({"timestamp": times, **walk(len(times), price)})
    frame.to_csv(path, index=False, float_format=f"%.{decimals}f")
    with path.open("r+b") as file:
        content = file.read(limit_bytes + 1)
        if len(content) > limit_bytes:
            file.truncate(content.rindex(b"\n", 0, limit_bytes) + 1)
    with path.open("rb") as file:
        return sum(block.count(b"\n") for block in iter(lambda: file.read(1 << 24), b"")) - 1


def write_parquet(path: Path, times: pa.Array, rows: int) -> None:
    bars = walk(rows)
    pq.write_table(pa.table({"timestamp": times, **bars}), path, row_group_size=1_000_000)


def upload(client: httpx.Client, symbol: str, path: Path) -> tuple[httpx.Response, float]:
    headers = PARQUET if path.suffix == ".parquet" else CSV
    content = path.read_bytes()
    started = time.perf_counter()
    response = client.post(f"/api/market-data/symbols/{symbol}", content=content, headers=headers)
    return response, time.perf_counter() - started


def peak_memory_mb(pid: int) -> tuple[float, float]:
    """A process's peak resident and peak virtual memory, MiB."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return int(fields["VmHWM"].split()[0]) / 1024, int(fields["VmPeak"].split()[0]) / 1024


def import_alone(mongo_url: str, mongo_db: str, path: Path, symbol: str) -> tuple[float, float]:
    """The file imported by a fresh import process; its peak memory (MiB)."""

    content, table_format = path.read_bytes(), TableFormat.of_name(path.name)

    async def run() -> tuple[float, float]:
        runner = ImportRunner(mongo_url, mongo_db, ImportLimits(), slots=1)
        [process] = multiprocessing.active_children()
        await runner.run(content, table_format, ImportOptions(symbol=symbol))
        peaks = peak_memory_mb(process.pid or 0)
        runner.close()
        return peaks

    return asyncio.run(run())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--skip-largest", action="store_true", help="only the hostile files")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    with tempfile.TemporaryDirectory(prefix="botclub-uploads-") as folder:
        return measure(Path(folder), largest_too=not args.skip_largest)


def measure(folder: Path, largest_too: bool) -> int:
    limits = ImportLimits()
    hostile: list[tuple[str, Path, Callable[[Path], None]]] = [
        ("1 M columns, CSV", folder / "columns.csv", million_columns_csv),
        ("30 M rows, Parquet", folder / "rows.parquet", thirty_million_rows_parquet),
    ]
    for _, path, make in hostile:
        make(path)
    largest: list[tuple[str, Path]] = []
    if largest_too:
        rows = limits.max_rows
        iso_rows = write_csv(folder / "iso.csv", iso_times(rows), MAX_UPLOAD_MB << 20)
        epoch = START_S + 60 * np.arange(rows, dtype=np.int64)
        # Prices of two digits and two decimals: every row fits in MAX_UPLOAD_MB.
        epoch_rows = write_csv(folder / "epoch.csv", epoch, MAX_UPLOAD_MB << 20, 10.0, 2)
        write_parquet(folder / "text.parquet", pa.array(iso_times(rows)), rows)
        timestamps = pa.array((START_S + 60 * np.arange(rows)).astype("datetime64[s]"))
        write_parquet(folder / "timestamps.parquet", timestamps, rows)
        largest = [
            (f"CSV, ISO times, {iso_rows:,} rows", folder / "iso.csv"),
            (f"CSV, epoch times, {epoch_rows:,} rows", folder / "epoch.csv"),
            (f"Parquet, text times, {rows:,} rows", folder / "text.parquet"),
            (f"Parquet, timestamps, {rows:,} rows", folder / "timestamps.parquet"),
        ]
    failed = False
    with throwaway_stack("uploads", {"MAX_UPLOAD_MB": str(MAX_UPLOAD_MB)}) as stack:
        client = httpx.Client(
            base_url=stack.api_url,
            headers={"Authorization": f"Bearer {stack.token}"},
            timeout=600,
        )
        upload(client, "WARMUP", hostile[0][1])  # the import processes have started
        print(f"{'hostile file':34} {'size':>9} {'answer':>6} {'time':>8}")
        for index, (label, path, _) in enumerate(hostile):
            response, seconds = upload(client, f"HOSTILE{index}", path)
            print(
                f"{label:34} {path.stat().st_size / 1e6:7.1f}MB {response.status_code:>6} "
                f"{seconds:7.3f}s  {response.json()['detail'][:70]}"
            )
            failed |= response.status_code not in (413, 422) or seconds > REFUSAL_TARGET_S
        if largest:
            print(
                f"\n{'largest allowed file':34} {'size':>9} {'answer':>6} {'time':>8} "
                f"{'peak RSS':>9} {'peak VM':>9}"
            )
        mongo_url, mongo_db = stack.compute_env["MONGO_URL"], stack.compute_env["MONGO_DB"]
        for index, (label, path) in enumerate(largest):
            response, seconds = upload(client, f"LARGE{index}", path)
            resident, virtual = import_alone(mongo_url, mongo_db, path, f"ALONE{index}")
            print(
                f"{label:34} {path.stat().st_size / 1e6:7.1f}MB {response.status_code:>6} "
                f"{seconds:7.1f}s {resident:7.0f}MiB {virtual:7.0f}MiB"
            )
            failed |= response.status_code != 201
        client.close()
    shutil.rmtree(stack.work, ignore_errors=True)  # its MongoDB holds gigabytes of bars
    print(f"\nimport memory limit (address space): {limits.memory_mb:,} MiB")
    print("targets NOT met" if failed else "targets met")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
