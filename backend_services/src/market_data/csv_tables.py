"""Reading a CSV file of bars within an import's bounds.

The header is looked at first, on its own: its columns are counted from the raw bytes
(a delimiter count, linear), so a header of a million names is refused in milliseconds
and never parsed. Then only the bars' columns are parsed, and parsing stops one row past
the row bound.
"""

from __future__ import annotations

import csv
import io

import pandas as pd

from backend_services.market_data.import_limits import ImportLimits, TooLarge
from backend_services.market_data.table_columns import (
    RawTable,
    choose_columns,
    converted,
    raw_table,
)
from shared.market_data.bars import MarketDataError

__all__ = ["MAX_HEADER_BYTES", "header_names", "read_csv"]

# A header naming the columns an import accepts takes a few hundred bytes.
MAX_HEADER_BYTES = 64 << 10


def read_csv(content: bytes, limits: ImportLimits) -> RawTable:
    """The bars' columns of a CSV file; TooLarge beyond `limits`, MarketDataError when
    it is not a table of bars."""
    choice = choose_columns(header_names(content, limits.max_columns))
    fields = sorted(choice.positions, key=choice.positions.__getitem__)
    try:
        frame = pd.read_csv(
            io.BytesIO(content),
            usecols=sorted(choice.positions.values()),
            nrows=limits.max_rows + 1,
            index_col=False,
        )
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as error:
        raise MarketDataError(f"not a readable csv file: {error}") from None
    if len(frame) > limits.max_rows:
        raise TooLarge(
            f"the file holds more than {limits.max_rows:,} rows, the most one import takes; "
            "split it and append the parts (mode=append)"
        )
    frame.columns = pd.Index(fields)
    return raw_table(choice, {field: [converted(field, frame[field])] for field in fields})


def header_names(content: bytes, max_columns: int) -> list[str]:
    """The column names of a CSV file's first line; TooLarge for more than
    `max_columns` of them, counted before the line is parsed."""
    if not content or content.isspace():
        raise MarketDataError("not a readable csv file: it is empty")
    end = content.find(b"\n")
    end = len(content) if end < 0 else end
    quoted = content.find(b'"', 0, end) >= 0
    delimited = content.count(b",", 0, end) + 1  # exact unless a quoted name holds a comma
    if delimited > max_columns and not quoted:
        raise _too_many_columns(delimited, max_columns)
    if end > MAX_HEADER_BYTES:
        raise TooLarge(
            f"the header line is {end:,} bytes long; an import reads headers of up to "
            f"{MAX_HEADER_BYTES >> 10} KiB ({max_columns} columns)"
        )
    try:
        line = content[:end].decode("utf-8-sig")
    except UnicodeDecodeError:
        raise MarketDataError("not a readable csv file: the header is not UTF-8 text") from None
    names = next(csv.reader([line.rstrip("\r")]), [])
    if len(names) > max_columns:
        raise _too_many_columns(len(names), max_columns)
    return names


def _too_many_columns(count: int, max_columns: int) -> TooLarge:
    return TooLarge(
        f"the file has {count:,} columns; an import reads files of up to {max_columns} "
        "columns (time, open, high, low, close, volume and a few more)"
    )
