"""Bars kept on a worker machine's disk: read back as mapped views of the file, never
taken for other bars, older versions' files removed."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from backend_services.market_data.bar_files import BarFiles
from shared.market_data.bars import Bars
from shared.market_data.catalog import SymbolEntry


def _bars(n: int) -> Bars:
    close = 100 + np.arange(n, dtype=np.float64)
    return Bars(
        time=1_600_000_000 + 60 * np.arange(n, dtype=np.int64),
        open=close - 1,
        high=close + 1,
        low=close - 2,
        close=close,
        volume=np.full(n, 5.0),
    )


def _entry(version: int, rows: int, import_id: str | None = "i1") -> SymbolEntry:
    moment = datetime(2020, 1, 1, tzinfo=UTC)
    return SymbolEntry(
        symbol="BRK.B",
        timeframe="1m",
        first=moment,
        last=moment,
        rows=rows,
        version=version,
        import_id=import_id,
    )


def test_a_version_is_read_back_as_views_of_its_mapped_file(tmp_path: Path) -> None:
    files, bars = BarFiles(tmp_path), _bars(1_000)
    files.write(_entry(3, 1_000), bars)

    read = files.read(_entry(3, 1_000))

    assert read is not None
    for name in ("time", "open", "high", "low", "close", "volume"):
        column = getattr(read, name)
        assert np.array_equal(column, getattr(bars, name))
        assert isinstance(column.base, np.memmap), f"{name} was copied"
        assert not column.flags.writeable


def test_a_file_is_never_taken_for_other_bars(tmp_path: Path) -> None:
    files = BarFiles(tmp_path)
    files.write(_entry(3, 1_000), _bars(1_000))

    assert files.read(_entry(3, 1_000, import_id="another import")) is None
    assert files.read(_entry(3, 999)) is None  # the catalog says otherwise
    (path,) = tmp_path.glob("*.bars")
    path.write_bytes(path.read_bytes()[:-8])  # cut short
    assert files.read(_entry(3, 1_000)) is None


def test_a_newer_version_removes_the_older_ones_files_only(tmp_path: Path) -> None:
    files = BarFiles(tmp_path)
    files.write(_entry(3, 10), _bars(10))
    files.write(
        SymbolEntry.model_validate(_entry(1, 10).model_dump() | {"symbol": "BRK"}), _bars(10)
    )

    files.write(_entry(4, 20, import_id="i2"), _bars(20))

    assert sorted(path.name for path in tmp_path.glob("*.bars")) == [
        "BRK.B@v4@i2.bars",
        "BRK@v1@i1.bars",
    ]


def test_versions_stored_before_they_had_an_import_id_are_not_kept(tmp_path: Path) -> None:
    files = BarFiles(tmp_path)
    files.write(_entry(1, 10, import_id=None), _bars(10))

    assert list(tmp_path.iterdir()) == []
    assert files.read(_entry(1, 10, import_id=None)) is None
