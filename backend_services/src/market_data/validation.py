"""Checking imported bars before anything is stored, and the report an import answers.

Rows are numbered from 1, the first data row of the file (the header is not a row).
Rows out of time order are sorted. Rows sharing a timestamp are refused, or, with
`duplicates=drop`, all but the first of them in file order are dropped and counted.
Unreadable times, prices or volumes that are missing or not numbers, prices at or below
zero, a high below the low, an open or close outside low..high, and negative volume
refuse the whole import, each problem with its first row numbers.

A gap is a step between consecutive bars longer than the timeframe, unless every bar it
misses falls in a weekend, from Friday 20:00 to Monday 00:00 UTC, when markets close.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from backend_services.market_data.table_files import UNREADABLE_TIME, RawTable
from shared.contracts.market_data import (
    MAX_GAPS_LISTED,
    MAX_ROWS_LISTED,
    DuplicatePolicy,
    Gap,
    ImportReport,
    RowProblem,
)
from shared.market_data.bars import Bars, MarketDataError, detect_timeframe
from shared.timeframes import TIMEFRAME_SECONDS, Timeframe, utc_datetime

__all__ = ["InvalidBars", "checked_bars", "describe_stored", "find_gaps"]

# Prices the engine can size and value without overflow at any capital it accepts.
MIN_PRICE = 1e-12
MAX_PRICE = 1e12
MAX_VOLUME = 1e18
# A step shorter than this share of the timeframe is another timeframe's bar (an hour
# short of a day still passes: daylight saving moves some daily bars by one).
SHORTEST_STEP = 0.9
_WEEK_S = 7 * 86_400
_MONDAY_ORIGIN_S = 4 * 86_400  # 1970-01-01 was a Thursday
_WEEKEND_FROM_S = 4 * 86_400 + 20 * 3_600  # Friday 20:00, counted from Monday 00:00


class InvalidBars(MarketDataError):
    """The file was refused; `report` says why, row by row."""

    def __init__(self, report: ImportReport) -> None:
        super().__init__("; ".join(f"{p.problem} ({p.count} rows)" for p in report.problems))
        self.report = report


def checked_bars(
    table: RawTable, duplicates: DuplicatePolicy, timeframe: Timeframe | None = None
) -> tuple[Bars, ImportReport]:
    """The table's bars, sorted and free of duplicates, and the report; InvalidBars with
    the report when any row is refused. A symbol has one timeframe: `timeframe` (the
    stored one, when appending) or the one the rows' spacing shows, and a row closer to
    the one before it than that is refused."""
    report = ImportReport(rows_read=len(table), notes=list(table.notes))
    if len(table) == 0:
        raise MarketDataError("the file holds no rows")
    report.problems = _row_problems(table)
    order = np.argsort(table.time, kind="stable")
    report.rows_out_of_order = int(np.count_nonzero(np.diff(table.time) < 0))
    time = table.time[order]
    repeated = np.flatnonzero(np.diff(time) == 0) + 1  # positions after the first of a run
    if repeated.size and duplicates is DuplicatePolicy.REFUSE:
        report.problems.append(
            _problem(
                "timestamp repeats an earlier row (duplicates=drop keeps the first)",
                order[repeated],
            )
        )
    if report.problems:
        raise InvalidBars(report)
    keep = np.delete(order, repeated)
    report.duplicates_dropped = int(repeated.size)
    bars = Bars(table.time, table.open, table.high, table.low, table.close, table.volume)
    bars = bars.take(keep)
    stored = timeframe is not None
    if timeframe is None and len(bars) >= 2:
        timeframe = detect_timeframe(bars.time)
    if timeframe is not None:
        shortest = SHORTEST_STEP * TIMEFRAME_SECONDS[timeframe]
        too_close = np.flatnonzero(np.diff(bars.time) < shortest) + 1
        if too_close.size:
            reason = f"closer to the row before it than one {timeframe} bar"
            if stored:
                reason += f" (the symbol is stored as {timeframe} bars)"
            report.problems.append(_problem(reason, keep[too_close]))
            raise InvalidBars(report)
    return bars, report


def describe_stored(report: ImportReport, bars: Bars, timeframe: Timeframe) -> None:
    """Fill in what was stored: range, timeframe and gaps of `bars`."""
    report.rows_stored = len(bars)
    report.timeframe = timeframe
    report.first = utc_datetime(int(bars.time[0]))
    report.last = utc_datetime(int(bars.time[-1]))
    report.gap_count, report.gaps = find_gaps(bars.time, TIMEFRAME_SECONDS[timeframe])


def find_gaps(time: npt.NDArray[np.int64], step_s: int) -> tuple[int, list[Gap]]:
    """How many gaps `time` has, and the longest of them."""
    steps = np.diff(time)
    candidates = np.flatnonzero(steps > step_s)
    if candidates.size == 0:
        return 0, []
    missing_start = time[candidates] + step_s
    missing_end = time[candidates + 1] - step_s  # open time of the last missing bar
    weekend_only = _only_weekend(missing_start, missing_end)
    gaps = candidates[~weekend_only]
    longest = gaps[np.argsort(-steps[gaps], kind="stable")[:MAX_GAPS_LISTED]]
    listed = [
        Gap(
            after=utc_datetime(int(time[i])),
            before=utc_datetime(int(time[i + 1])),
            missing_bars=int(steps[i] // step_s) - 1,
        )
        for i in sorted(longest)
    ]
    return int(gaps.size), listed


def _only_weekend(
    start: npt.NDArray[np.int64], end: npt.NDArray[np.int64]
) -> npt.NDArray[np.bool_]:
    """True where [start, end] lies within one weekend."""
    week_start, week_end = (
        (start - _MONDAY_ORIGIN_S) // _WEEK_S,
        (end - _MONDAY_ORIGIN_S) // _WEEK_S,
    )
    into_week = (start - _MONDAY_ORIGIN_S) % _WEEK_S
    within: npt.NDArray[np.bool_] = (week_start == week_end) & (into_week >= _WEEKEND_FROM_S)
    return within


def _row_problems(table: RawTable) -> list[RowProblem]:
    prices = np.stack([table.open, table.high, table.low, table.close])
    checks = [
        (table.time == UNREADABLE_TIME, "time is not a readable timestamp"),
        (
            ~np.isfinite(prices).all(axis=0) | ~np.isfinite(table.volume),
            "a price or the volume is missing or not a number",
        ),
        ((prices <= 0).any(axis=0), "a price is zero or negative"),
        (table.high < table.low, "high is below low"),
        (
            (table.open > table.high)
            | (table.open < table.low)
            | (table.close > table.high)
            | (table.close < table.low),
            "open or close lies outside low..high",
        ),
        (table.volume < 0, "volume is negative"),
        (
            ((prices > 0) & (prices < MIN_PRICE)).any(axis=0) | (prices > MAX_PRICE).any(axis=0),
            f"a price lies outside {MIN_PRICE:g}..{MAX_PRICE:g}",
        ),
        (table.volume > MAX_VOLUME, f"volume is above {MAX_VOLUME:g}"),
    ]
    return [_problem(reason, np.flatnonzero(failed)) for failed, reason in checks if failed.any()]


def _problem(reason: str, positions: npt.NDArray[np.intp]) -> RowProblem:
    first = np.sort(positions)[:MAX_ROWS_LISTED]
    return RowProblem(problem=reason, count=int(positions.size), rows=[int(p) + 1 for p in first])
