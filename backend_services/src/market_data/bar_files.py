"""A symbol's bars kept on this machine's disk beside MongoDB, for the worker processes
here: one file per imported version, memory-mapped when read.

A backtest on bars just imported then starts without reading them back from MongoDB
and without copying them: the import process writes the file as it stores the version,
and a worker maps it (the pages it touches come from the operating system's cache).
MongoDB stays the truth: a file that is missing, or not what it should be, is read from
there instead, and written here for the next run. A file is named by the version's
`import_id`, unique to that import, so it can never be taken for other bars (a database
recreated, a version number reused); writing a symbol's newer version removes the files
of its older ones.

Layout: a 16-byte header (the magic `BCBARS01` and the row count, little-endian), then
the times (int64) and the open, high, low, close and volume columns (float64), each
`rows` values long.
"""

from __future__ import annotations

import logging
import os
import struct
import tempfile
from pathlib import Path

import numpy as np

from shared.market_data.bars import Bars
from shared.market_data.catalog import SymbolEntry

__all__ = ["BarFiles"]

logger = logging.getLogger(__name__)

_MAGIC = b"BCBARS01"
_HEADER = struct.Struct("<8sq")
_PRICE_COLUMNS = ("open", "high", "low", "close", "volume")


class BarFiles:
    def __init__(self, folder: Path) -> None:
        self._folder = folder

    def read(self, entry: SymbolEntry) -> Bars | None:
        """The version's bars as views of its mapped file; None when there is none here,
        or it is not what the catalog says."""
        path = self._path_of(entry)
        if path is None or not path.exists():
            return None
        try:
            with path.open("rb") as file:
                magic, rows = _HEADER.unpack(file.read(_HEADER.size))
            if magic != _MAGIC or rows != entry.rows:
                raise ValueError(f"{path.name} holds {rows} rows, not {entry.rows}")
            mapped = np.memmap(path, dtype=np.uint8, mode="r")
            expected = _HEADER.size + 6 * 8 * rows
            if mapped.shape[0] != expected:
                raise ValueError(f"{path.name} is {mapped.shape[0]} bytes, not {expected}")
        except (OSError, ValueError, struct.error) as error:
            logger.warning("not using the file of %s v%d: %s", entry.symbol, entry.version, error)
            return None
        body = mapped[_HEADER.size :]
        columns = [body[i * 8 * rows : (i + 1) * 8 * rows] for i in range(6)]
        return Bars(
            time=columns[0].view("<i8"),
            **{
                name: column.view("<f8")
                for name, column in zip(_PRICE_COLUMNS, columns[1:], strict=True)
            },
        )

    def write(self, entry: SymbolEntry, bars: Bars) -> None:
        """Keep the version's bars here (atomically: a reader sees the whole file or
        none), and remove the files of the symbol's older versions. A failure is logged
        and otherwise ignored: the bars are in MongoDB."""
        path = self._path_of(entry)
        if path is None:
            return
        temporary: str | None = None
        try:
            self._folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=self._folder, suffix=".part")
            with os.fdopen(handle, "wb") as file:
                file.write(_HEADER.pack(_MAGIC, len(bars)))
                file.write(np.ascontiguousarray(bars.time, dtype="<i8").data)
                for name in _PRICE_COLUMNS:
                    file.write(np.ascontiguousarray(getattr(bars, name), "<f8").data)
            os.replace(temporary, path)
        except Exception as error:  # a cache: never worth failing what stored the bars
            logger.warning("keeping %s v%d on disk failed: %s", entry.symbol, entry.version, error)
            if temporary is not None:
                Path(temporary).unlink(missing_ok=True)
            return
        for older in self._folder.glob(f"{entry.symbol}@v*.bars"):
            if older != path and _version_of(older) < entry.version:
                older.unlink(missing_ok=True)

    def forget(self, symbol: str) -> None:
        """Remove every file of a deleted symbol."""
        for path in self._folder.glob(f"{symbol}@v*.bars"):
            path.unlink(missing_ok=True)

    def _path_of(self, entry: SymbolEntry) -> Path | None:
        if entry.import_id is None:  # stored before versions had one
            return None
        return self._folder / f"{entry.symbol}@v{entry.version}@{entry.import_id}.bars"


def _version_of(path: Path) -> int:
    """The version in a file's name, SYMBOL@vN@IMPORT_ID.bars (no symbol holds an @)."""
    try:
        return int(path.name.split("@")[1].removeprefix("v"))
    except (IndexError, ValueError):
        return -1
