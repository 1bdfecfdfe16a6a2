"""Reading a Parquet file of bars within an import's bounds.

A Parquet file says in its footer how many rows and columns it holds and how large each
column is once decompressed, so a few hundred kilobytes that would expand to tens of
millions of rows are refused from that metadata, before a page is decompressed. What
passes is read one row group at a time, only the bars' columns, each converted to
arrays before the next is read. Text columns are read dictionary-encoded when the file
stores them so: their distinct values are converted once, never expanded row by row.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from backend_services.market_data.import_limits import ImportLimits, TooLarge
from backend_services.market_data.table_columns import (
    RawTable,
    choose_columns,
    converted,
    missing_value,
    raw_table,
)
from shared.market_data.bars import MarketDataError

__all__ = ["MAX_BYTES_PER_VALUE", "MAX_FOOTER_BYTES", "read_parquet"]

_MAGIC = b"PAR1"
# The footer of a file of millions of bars in row groups of a million takes kilobytes.
MAX_FOOTER_BYTES = 8 << 20
# Decompressed, a bar's time written as text takes under 40 bytes, a number 8.
MAX_BYTES_PER_VALUE = 64
# Page and dictionary headers a column chunk holds however few its rows.
_CHUNK_OVERHEAD_BYTES = 64 << 10
_INDEX_PREFIX = "__index_level_"


def read_parquet(content: bytes, limits: ImportLimits) -> RawTable:
    """The bars' columns of a Parquet file; TooLarge beyond `limits`, MarketDataError
    when it is not a table of bars."""
    metadata = _metadata(content)
    if metadata.num_columns > limits.max_columns:
        raise TooLarge(
            f"the file has {metadata.num_columns:,} columns; an import reads files of up "
            f"to {limits.max_columns} columns"
        )
    if metadata.num_rows > limits.max_rows:
        raise TooLarge(
            f"the file holds {metadata.num_rows:,} rows; one import takes at most "
            f"{limits.max_rows:,}: split it and append the parts (mode=append)"
        )
    groups = [metadata.row_group(index) for index in range(metadata.num_row_groups)]
    if sum(group.num_rows for group in groups) != metadata.num_rows:
        raise MarketDataError("not a readable parquet file: its row groups and rows disagree")
    try:
        return _read_bars(content, metadata, groups)
    except (MarketDataError, MemoryError):  # Arrow's own MemoryError is an ArrowException too
        raise
    except (pa.ArrowException, OSError, ValueError) as error:
        raise MarketDataError(f"not a readable parquet file: {error}") from None


def _read_bars(
    content: bytes, metadata: pq.FileMetaData, groups: list[pq.RowGroupMetaData]
) -> RawTable:
    """The bars' columns, a row group at a time, once their stated sizes are in bounds."""
    schema = metadata.schema.to_arrow_schema()
    names, stored_as = _frame_columns(schema)
    choice = choose_columns(names)
    fields = {field: stored_as[position] for field, position in choice.positions.items()}
    for index, group in enumerate(groups):
        _check_expanded_size(group, set(fields.values()), index)
    text = [name for name in fields.values() if _is_text(schema.field(name).type)]
    parquet = pq.ParquetFile(pa.BufferReader(content), metadata=metadata, read_dictionary=text)
    parts: dict[str, list[npt.NDArray[Any]]] = {field: [] for field in fields}
    for index in range(len(groups)):
        group_table = parquet.read_row_group(index, columns=list(fields.values()))
        for field, name in fields.items():
            parts[field] += [_part(field, chunk) for chunk in group_table.column(name).chunks]
        del group_table
    return raw_table(choice, parts)


def _part(field: str, chunk: pa.Array) -> npt.NDArray[Any]:
    """A chunk of a column converted; a dictionary-encoded one by converting its
    distinct values once and picking from them, so a few long strings repeated a
    million times are never expanded."""
    if not pa.types.is_dictionary(chunk.type):
        return converted(field, pd.Series(chunk.to_pandas()))
    values = converted(field, pd.Series(chunk.dictionary.to_pandas()))
    indices = chunk.indices.fill_null(-1).to_numpy(zero_copy_only=False)
    picked = np.full(indices.shape[0], missing_value(values), dtype=values.dtype)
    present = indices >= 0
    picked[present] = values[indices[present]]
    return picked


def _metadata(content: bytes) -> pq.FileMetaData:
    """The footer, read only once its stated length is within bounds."""
    if len(content) < 12 or not content.startswith(_MAGIC) or not content.endswith(_MAGIC):
        raise MarketDataError("not a readable parquet file: it lacks Parquet's PAR1 marks")
    footer_bytes = int.from_bytes(content[-8:-4], "little")
    if footer_bytes > MAX_FOOTER_BYTES:
        raise TooLarge(
            f"the file's metadata takes {footer_bytes:,} bytes; an import reads files whose "
            f"metadata takes up to {MAX_FOOTER_BYTES >> 20} MiB"
        )
    try:
        return pq.read_metadata(pa.BufferReader(content))
    except (pa.ArrowException, OSError, ValueError) as error:
        raise MarketDataError(f"not a readable parquet file: {error}") from None


def _frame_columns(schema: pa.Schema) -> tuple[list[str], list[str]]:
    """The columns as a pandas frame shows them once its index is made a column (index
    columns first, an unnamed index named `index`), and the name each is stored under."""
    pandas_metadata = schema.pandas_metadata or {}
    index_columns = [
        name for name in pandas_metadata.get("index_columns", []) if isinstance(name, str)
    ]
    indexed = set(index_columns)
    stored_as = [*index_columns, *(name for name in schema.names if name not in indexed)]
    names = [_shown_name(name, len(index_columns)) for name in stored_as]
    return names, stored_as


def _shown_name(stored: str, index_count: int) -> str:
    if not stored.startswith(_INDEX_PREFIX):
        return stored
    level = stored.removeprefix(_INDEX_PREFIX).rstrip("_")
    return "index" if index_count == 1 else f"level_{level}"


def _check_expanded_size(group: pq.RowGroupMetaData, read: set[str], index: int) -> None:
    """The columns read may take MAX_BYTES_PER_VALUE a row decompressed, as the
    metadata states it."""
    chunks = [
        group.column(position)
        for position in range(group.num_columns)
        if group.column(position).path_in_schema.split(".")[0] in read
    ]
    expanded = sum(chunk.total_uncompressed_size for chunk in chunks)
    allowed = len(chunks) * (group.num_rows * MAX_BYTES_PER_VALUE + _CHUNK_OVERHEAD_BYTES)
    if expanded > allowed:
        raise TooLarge(
            f"row group {index + 1} expands to {expanded:,} bytes for {group.num_rows:,} "
            f"rows; an import reads up to {MAX_BYTES_PER_VALUE} bytes a value"
        )


def _is_text(arrow_type: pa.DataType) -> bool:
    return bool(
        pa.types.is_string(arrow_type)
        or pa.types.is_large_string(arrow_type)
        or pa.types.is_binary(arrow_type)
        or pa.types.is_large_binary(arrow_type)
    )
