"""Hostile and careless uploads: files that would expand beyond any memory are refused
from their header or metadata, in words; errors read as sentences, never a repr or a
pattern; symbol names are unambiguous."""

from __future__ import annotations

import io
import uuid

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

pytestmark = pytest.mark.integration

SYMBOLS = "/api/market-data/symbols"
CSV = {"Content-Type": "text/csv"}
PARQUET = {"Content-Type": "application/vnd.apache.parquet"}
START_S = 1_600_000_000 // 60 * 60
GOOD_ROWS = (
    "date,open,high,low,close,volume\n2020-01-01,1,2,0.5,1.5,10\n2020-01-02,1,2,0.5,1.5,10\n"
)


def new_symbol() -> str:
    return f"H{uuid.uuid4().hex[:8].upper()}"


def upload(
    api: httpx.Client, symbol: str, content: bytes, headers: dict[str, str] = CSV
) -> httpx.Response:
    return api.post(f"{SYMBOLS}/{symbol}", content=content, headers=headers)


def one_price_parquet(rows: int) -> bytes:
    """`rows` minute bars of one price, written a million at a time: under a megabyte
    for thirty million rows (delta-encoded times, one-value dictionaries)."""
    schema = pa.schema(
        [("timestamp", pa.int64())]
        + [(name, pa.float64()) for name in ("open", "high", "low", "close")]
    )
    ones = pa.array(np.ones(1_000_000))
    buffer = io.BytesIO()
    with pq.ParquetWriter(
        buffer,
        schema,
        compression="zstd",
        use_dictionary=["open", "high", "low", "close"],
        column_encoding={"timestamp": "DELTA_BINARY_PACKED"},
    ) as writer:
        for first in range(0, rows, 1_000_000):
            times = pa.array(START_S + 60 * np.arange(first, first + 1_000_000, dtype=np.int64))
            writer.write_table(pa.Table.from_arrays([times, ones, ones, ones, ones], schema=schema))
    return buffer.getvalue()


def test_a_parquet_file_of_thirty_million_rows_is_refused_from_its_metadata(
    api: httpx.Client,
) -> None:
    content = one_price_parquet(30_000_000)
    assert len(content) < 1 << 20  # the file that drove an import to 5.9 GB

    response = upload(api, new_symbol(), content, PARQUET)

    assert response.status_code == 413
    assert response.json()["detail"] == (
        "the file holds 30,000,000 rows; one import takes at most 5,000,000: "
        "split it and append the parts (mode=append)"
    )


def test_a_parquet_file_of_absurdly_many_columns_is_refused_from_its_metadata(
    api: httpx.Client,
) -> None:
    columns = {name: pa.array([1.0]) for name in ("time", "open", "high", "low", "close")}
    columns |= {f"extra{i}": pa.array([0.0]) for i in range(5_000)}
    buffer = io.BytesIO()
    pq.write_table(pa.table(columns), buffer)

    response = upload(api, new_symbol(), buffer.getvalue(), PARQUET)

    assert response.status_code == 413
    assert (
        "the file has 5,005 columns; an import reads files of up to 100"
        in (response.json()["detail"])
    )


def test_a_csv_header_of_absurdly_many_columns_is_refused_from_the_header_alone(
    api: httpx.Client,
) -> None:
    names = ["date", "open", "high", "low", "close"] + [f"c{i}" for i in range(200_000)]
    content = (",".join(names) + "\n2020-01-01" + ",1" * (len(names) - 1) + "\n").encode()

    response = upload(api, new_symbol(), content)

    assert response.status_code == 413
    assert response.json()["detail"].startswith("the file has 200,005 columns;")
    assert upload(api, new_symbol(), GOOD_ROWS.encode()).status_code == 201


def test_a_file_refused_as_a_whole_says_why_in_a_sentence(api: httpx.Client) -> None:
    response = upload(api, new_symbol(), b"date,open,high,low\n2020-01-01,1,2,0.5\n")

    assert response.status_code == 422
    assert response.json()["detail"] == "missing columns: close"


@pytest.mark.parametrize("symbol", ["-", "_", ".hidden", "-rf", "_ACME"])
def test_a_symbol_must_start_with_a_letter_or_a_digit(api: httpx.Client, symbol: str) -> None:
    response = upload(api, symbol, GOOD_ROWS.encode())

    assert response.status_code == 422
    detail = response.json()["detail"]
    assert "starting with a letter or a digit" in detail
    assert "[" not in detail  # no pattern
    assert api.get(f"{SYMBOLS}/{symbol}").status_code == 422


def test_a_symbol_named_alike_but_for_case_is_refused(api: httpx.Client) -> None:
    stored = new_symbol()
    assert upload(api, stored, GOOD_ROWS.encode()).status_code == 201

    response = upload(api, stored.lower(), GOOD_ROWS.encode())

    assert response.status_code == 409
    assert response.json()["detail"].startswith(
        f"{stored} is stored already, and symbol names are told apart regardless of case"
    )
    assert api.get(f"{SYMBOLS}/{stored.lower()}").status_code == 404
    assert upload(api, stored, GOOD_ROWS.encode()).status_code == 201  # its own name: fine
