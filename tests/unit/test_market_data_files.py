"""Reading CSV and Parquet files, and checking their rows before anything is stored."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from backend_services.market_data.import_limits import ImportLimits, TooLarge
from backend_services.market_data.table_files import UNREADABLE_TIME, RawTable, read_table
from backend_services.market_data.validation import InvalidBars, checked_bars, find_gaps
from shared.contracts.market_data import DuplicatePolicy, TableFormat
from shared.market_data.bars import MarketDataError

DAY = 86_400
HOUR = 3_600
JAN_1_2020 = 1_577_836_800  # a Wednesday
MONDAY_2020 = JAN_1_2020 + 5 * DAY  # 2020-01-06


def csv(text: str) -> RawTable:
    return read_table(text.encode(), TableFormat.CSV)


def table(times: list[int], close: list[float] | None = None) -> RawTable:
    n = len(times)
    price = np.array(close if close is not None else [10.0] * n)
    return RawTable(
        time=np.array(times, dtype=np.int64),
        open=price.copy(),
        high=price + 1,
        low=price * 0.5,
        close=price.copy(),
        volume=np.ones(n),
    )


def test_unnamed_index_column_and_any_case_names() -> None:
    raw = csv(",OPEN,High,low,Close,volume\n2020-01-01,1,2,0.5,1.5,10\n2020-01-02,1.5,2,1,2,20\n")

    assert raw.time.tolist() == [JAN_1_2020, JAN_1_2020 + DAY]
    assert raw.close.tolist() == [1.5, 2]
    assert raw.volume.tolist() == [10, 20]


def test_time_zones_are_converted_to_utc() -> None:
    raw = csv(
        "timestamp,open,high,low,close,volume\n"
        "2020-01-01T02:00:00+02:00,1,2,0.5,1.5,1\n"
        "2020-01-01 01:00:00Z,1,2,0.5,1.5,1\n"
    )

    assert raw.time.tolist() == [JAN_1_2020, JAN_1_2020 + HOUR]


@pytest.mark.parametrize("scale", [1, 1000], ids=["seconds", "milliseconds"])
def test_epoch_times_in_seconds_or_milliseconds(scale: int) -> None:
    raw = csv(
        "Date,Open,High,Low,Close,Volume\n"
        f"{JAN_1_2020 * scale},1,2,0.5,1.5,1\n{(JAN_1_2020 + 60) * scale},1,2,0.5,1.5,1\n"
    )

    assert raw.time.tolist() == [JAN_1_2020, JAN_1_2020 + 60]


def test_missing_volume_reads_as_zero_with_a_note() -> None:
    raw = csv("time,open,high,low,close\n2020-01-01,1,2,0.5,1.5\n")

    assert raw.volume.tolist() == [0]
    assert raw.notes == ["no volume column: volume is stored as 0"]


def test_parquet_with_a_datetime_index() -> None:
    frame = pd.DataFrame(
        {"Open": [1.0, 1.5], "High": [2.0, 2.0], "Low": [0.5, 1.0], "Close": [1.5, 2.0]},
        index=pd.DatetimeIndex(["2020-01-01 01:00", "2020-01-01 02:00"], tz="Europe/Berlin"),
    )
    frame["Volume"] = [5, 6]
    buffer = io.BytesIO()
    frame.to_parquet(buffer)

    raw = read_table(buffer.getvalue(), TableFormat.PARQUET)

    assert raw.time.tolist() == [JAN_1_2020, JAN_1_2020 + HOUR]
    assert raw.volume.tolist() == [5, 6]


@pytest.mark.parametrize(
    ("content", "table_format", "message"),
    [
        (b"date,open,high,low\n2020-01-01,1,2,0.5\n", TableFormat.CSV, "missing columns: close"),
        (b"open,high,low,close\n1,2,0.5,1.5\n", TableFormat.CSV, "no time column"),
        (b"\x00\xffnot parquet at all", TableFormat.PARQUET, "not a readable parquet file"),
        (b"", TableFormat.CSV, "not a readable csv file"),
    ],
)
def test_unreadable_files_are_refused(
    content: bytes, table_format: TableFormat, message: str
) -> None:
    with pytest.raises(MarketDataError, match=message):
        read_table(content, table_format)


SMALL = ImportLimits(max_rows=10, max_columns=8)
BAR_VALUES = {"open": 1.0, "high": 2.0, "low": 0.5, "close": 1.5, "volume": 10.0}


def parquet(table: pa.Table, **write_options: object) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer, **write_options)
    return buffer.getvalue()


def bars_table(rows: int, time: pa.Array | None = None, extra_columns: int = 0) -> pa.Table:
    columns = {"time": time if time is not None else pa.array(JAN_1_2020 + 60 * np.arange(rows))}
    columns |= {name: pa.array(np.full(rows, value)) for name, value in BAR_VALUES.items()}
    columns |= {f"extra{i}": pa.array(np.zeros(rows)) for i in range(extra_columns)}
    return pa.table(columns)


def test_a_million_columns_are_refused_from_the_header_alone() -> None:
    header = ",".join(["date", "open", "high", "low", "close"] + [f"c{i}" for i in range(10**6)])

    with pytest.raises(TooLarge, match="1,000,005 columns; an import reads files of up to 8"):
        read_table(f"{header}\n2020-01-01,1,2,0.5,1.5\n".encode(), TableFormat.CSV, SMALL)


def test_quoted_names_holding_commas_are_counted_as_one_column_each() -> None:
    header = 'date,open,high,low,close,"a, b, c, d, e, f, g"'

    raw = read_table(f"{header}\n2020-01-01,1,2,0.5,1.5,x\n".encode(), TableFormat.CSV, SMALL)

    assert raw.close.tolist() == [1.5]


def test_a_header_line_beyond_its_bound_is_refused_unparsed() -> None:
    header = '"' + "x" * (100 << 10) + '",date,open,high,low,close'

    with pytest.raises(TooLarge, match="header line is 102,427 bytes long"):
        read_table(f"{header}\n".encode(), TableFormat.CSV, SMALL)


def test_csv_reading_stops_past_the_row_bound() -> None:
    rows = "".join(f"{JAN_1_2020 + 60 * i},1,2,0.5,1.5,1\n" for i in range(11))
    content = f"time,open,high,low,close,volume\n{rows}".encode()

    assert (
        len(read_table(content[: content.rindex(b"\n", 0, -1) + 1], TableFormat.CSV, SMALL)) == 10
    )
    with pytest.raises(TooLarge, match="more than 10 rows, the most one import takes"):
        read_table(content, TableFormat.CSV, SMALL)


@pytest.mark.parametrize(
    "header",
    [
        "date,open,high,low,close,close",
        "date,Open,high,low,close,OPEN",
        "date,open,high,low,close, Date",
    ],
)
def test_columns_named_alike_are_refused_naming_them(header: str) -> None:
    with pytest.raises(MarketDataError, match="columns named alike"):
        csv(f"{header}\n2020-01-01,1,2,0.5,1.5,1\n")


def test_parquet_rows_and_columns_are_refused_from_the_metadata_before_any_page() -> None:
    many_rows = bytearray(parquet(bars_table(11), compression="none"))
    many_columns = bytearray(parquet(bars_table(2, extra_columns=3), compression="none"))
    for content in (many_rows, many_columns):  # the pages are garbage: never read
        content[4:200] = b"\xff" * 196

    with pytest.raises(TooLarge, match="the file holds 11 rows; one import takes at most 10"):
        read_table(bytes(many_rows), TableFormat.PARQUET, SMALL)
    with pytest.raises(TooLarge, match="the file has 9 columns; an import reads files of up to 8"):
        read_table(bytes(many_columns), TableFormat.PARQUET, SMALL)


def test_a_parquet_footer_stating_a_huge_length_is_refused_before_it_is_read() -> None:
    content = b"PAR1" + b"\x00" * 64 + (100 << 20).to_bytes(4, "little") + b"PAR1"

    with pytest.raises(TooLarge, match="metadata takes 104,857,600 bytes"):
        read_table(content, TableFormat.PARQUET)


def test_parquet_columns_expanding_past_their_bound_are_refused_from_the_metadata() -> None:
    long_times = pa.array([f"2020-01-01T00:{i:02d}:00Z" + " " * 5_000 for i in range(100)])
    content = parquet(bars_table(100, time=long_times), use_dictionary=False)

    with pytest.raises(TooLarge, match=r"row group 1 expands to .* for 100 rows"):
        read_table(content, TableFormat.PARQUET)


def test_parquet_is_read_a_row_group_at_a_time_and_text_by_its_distinct_values() -> None:
    times = pa.array(["2020-01-01T00:00:00Z", "2020-01-01T00:01:00Z", "not a time", None] * 3)
    content = parquet(bars_table(12, time=times), row_group_size=5)
    assert pq.ParquetFile(io.BytesIO(content)).metadata.num_row_groups == 3

    raw = read_table(content, TableFormat.PARQUET)

    assert raw.time.tolist() == [JAN_1_2020, JAN_1_2020 + 60, UNREADABLE_TIME, UNREADABLE_TIME] * 3
    assert raw.close.tolist() == [1.5] * 12


def test_parquet_past_the_memory_limit_is_out_of_memory_not_an_unreadable_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Arrow's MemoryError is also an ArrowException: it must reach the import process
    as the memory it is (refused 413), not as a broken file (422)."""

    def out_of_memory(*args: object, **kwargs: object) -> pa.Table:
        raise pa.ArrowMemoryError("malloc of size 1073741824 failed")

    monkeypatch.setattr(pq.ParquetFile, "read_row_group", out_of_memory)
    content = parquet(bars_table(12), row_group_size=5)

    with pytest.raises(MemoryError):
        read_table(content, TableFormat.PARQUET)


def test_parquet_epoch_milliseconds_are_told_from_the_whole_column() -> None:
    first_group_small = pa.array([0, 60_000, JAN_1_2020 * 1000, JAN_1_2020 * 1000 + 60_000])
    content = parquet(bars_table(4, time=first_group_small), row_group_size=2)

    raw = read_table(content, TableFormat.PARQUET)

    assert raw.time.tolist() == [0, 60, JAN_1_2020, JAN_1_2020 + 60]


def test_parquet_without_a_volume_column_and_with_a_named_index() -> None:
    frame = pd.DataFrame(
        {"Open": [1.0], "High": [2.0], "Low": [0.5], "Close": [1.5]},
        index=pd.Index(["2020-01-01"], name="Date"),
    )
    buffer = io.BytesIO()
    frame.to_parquet(buffer)

    raw = read_table(buffer.getvalue(), TableFormat.PARQUET)

    assert raw.time.tolist() == [JAN_1_2020]
    assert raw.volume.tolist() == [0]
    assert raw.notes == ["no volume column: volume is stored as 0"]


def test_bad_rows_are_refused_with_their_row_numbers() -> None:
    raw = csv(
        "date,open,high,low,close,volume\n"
        "2020-01-01,1,2,0.5,1.5,1\n"  # row 1: fine
        "not a date,1,2,0.5,1.5,1\n"  # row 2
        "2020-01-03,1,2,0.5,,1\n"  # row 3: close missing
        "2020-01-04,-1,2,-2,1.5,1\n"  # row 4: negative prices
        "2020-01-05,1,0.4,0.5,0.45,1\n"  # row 5: high below low
        "2020-01-06,3,2,0.5,1.5,1\n"  # row 6: open above high
        "2020-01-07,1,2,0.5,1.5,-5\n"  # row 7: negative volume
    )

    with pytest.raises(InvalidBars) as refused:
        checked_bars(raw, DuplicatePolicy.REFUSE)

    problems = {p.problem: p.rows for p in refused.value.report.problems}
    assert problems == {
        "time is not a readable timestamp": [2],
        "a price or the volume is missing or not a number": [3],
        "a price is zero or negative": [4],
        "high is below low": [5],
        "open or close lies outside low..high": [5, 6],
        "volume is negative": [7],
    }
    assert raw.time[1] == UNREADABLE_TIME


def test_rows_out_of_order_are_sorted_and_counted() -> None:
    bars, report = checked_bars(
        table([JAN_1_2020 + 2 * DAY, JAN_1_2020, JAN_1_2020 + DAY], [3, 1, 2]),
        DuplicatePolicy.REFUSE,
    )

    assert bars.time.tolist() == [JAN_1_2020, JAN_1_2020 + DAY, JAN_1_2020 + 2 * DAY]
    assert bars.close.tolist() == [1, 2, 3]
    assert report.rows_out_of_order == 1


def test_duplicate_timestamps_are_refused_or_the_first_kept() -> None:
    rows = table([JAN_1_2020, JAN_1_2020 + DAY, JAN_1_2020, JAN_1_2020 + DAY], [1, 2, 3, 4])

    with pytest.raises(InvalidBars) as refused:
        checked_bars(rows, DuplicatePolicy.REFUSE)
    assert refused.value.report.problems[0].rows == [3, 4]

    bars, report = checked_bars(rows, DuplicatePolicy.DROP)
    assert bars.close.tolist() == [1, 2]
    assert report.duplicates_dropped == 2


def test_gaps_leave_out_weekends() -> None:
    weekdays = [MONDAY_2020 + d * DAY for d in (0, 1, 2, 3, 4, 7, 8, 10, 11)]  # Wed 15th missing

    count, gaps = find_gaps(np.array(weekdays, dtype=np.int64), DAY)

    assert count == 1
    assert (gaps[0].after.day, gaps[0].before.day, gaps[0].missing_bars) == (14, 16, 1)


def test_fx_weekend_from_friday_evening_is_no_gap() -> None:
    friday_21 = MONDAY_2020 + 4 * DAY + 21 * HOUR
    sunday_22 = MONDAY_2020 + 6 * DAY + 22 * HOUR
    hours = [friday_21 - HOUR, friday_21, sunday_22, sunday_22 + HOUR, sunday_22 + 3 * HOUR]

    count, gaps = find_gaps(np.array(hours, dtype=np.int64), HOUR)

    assert count == 1
    assert gaps[0].missing_bars == 1
