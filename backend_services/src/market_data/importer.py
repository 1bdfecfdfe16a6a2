"""An import from file to catalog: check the rows, merge with what is stored when
appending, write a new version and report what happened."""

from __future__ import annotations

import numpy as np
from pymongo.database import Database

from backend_services.market_data.bar_files import BarFiles
from backend_services.market_data.import_limits import DEFAULT_MAX_ROWS, TooLarge
from backend_services.market_data.store import (
    find_symbol_named_alike,
    find_symbol_or_none,
    load_bars,
    write_version,
)
from backend_services.market_data.table_files import SAMPLE_FILES, RawTable, read_sample
from backend_services.market_data.validation import SHORTEST_STEP, checked_bars, describe_stored
from shared.contracts.market_data import ImportMode, ImportOptions, ImportOutcome
from shared.market_data.bars import Bars, MarketDataError, concatenate, detect_timeframe
from shared.market_data.catalog import CATALOG_COLLECTION, SYSTEM_OWNER, SymbolEntry
from shared.mongo import Document
from shared.timeframes import TIMEFRAME_SECONDS

__all__ = ["NameTaken", "NotOwner", "import_bars", "import_table", "load_missing_samples"]


class NotOwner(MarketDataError):
    """The symbol belongs to someone else."""


class NameTaken(MarketDataError):
    """Another symbol has the same name but for case."""


def import_table(
    db: Database[Document],
    table: RawTable,
    options: ImportOptions,
    max_rows: int = DEFAULT_MAX_ROWS,
    files: BarFiles | None = None,
) -> ImportOutcome:
    """Check `table` and store it as the symbol's new version (replacing it, or appended
    to it). InvalidBars (with the report), NotOwner, NameTaken, ImportConflict, TooLarge
    (a symbol holds at most `max_rows` bars) or MarketDataError when nothing was
    stored. With `files`, the version is also kept on this machine's disk for its
    workers."""
    current = find_symbol_or_none(db, options.symbol)
    if current is None and (stored := find_symbol_named_alike(db, options.symbol)):
        raise NameTaken(
            f"{stored} is stored already, and symbol names are told apart regardless of "
            f"case: upload to {stored}, or choose another name"
        )
    if current and options.owner_id is not None and current.owner_id != options.owner_id:
        raise NotOwner(f"{options.symbol} belongs to {current.owner_in_words()}")
    appending_to = current if options.mode is ImportMode.APPEND else None
    bars, report = checked_bars(
        table, options.duplicates, appending_to.timeframe if appending_to else None
    )
    if appending_to is not None:
        newer = bars.time > int(appending_to.last.timestamp())
        report.already_stored = int(np.count_nonzero(~newer))
        if not newer.any():
            report.notes.append(f"nothing newer than {appending_to.last:%Y-%m-%d %H:%M} UTC")
            return ImportOutcome(entry=None, report=report)
        new_rows = int(np.count_nonzero(newer))
        if appending_to.rows + new_rows > max_rows:
            raise TooLarge(
                f"{options.symbol} holds {appending_to.rows:,} bars; {new_rows:,} more would "
                f"pass the {max_rows:,} a symbol may hold"
            )
        step = int(bars.time[newer][0]) - int(appending_to.last.timestamp())
        if step < TIMEFRAME_SECONDS[appending_to.timeframe] * SHORTEST_STEP:
            raise MarketDataError(
                f"the first new bar comes {step} s after the last stored one; "
                f"{options.symbol} is stored as {appending_to.timeframe} bars"
            )
        bars = concatenate([load_bars(db, appending_to), bars.take(newer)])
    timeframe = detect_timeframe(bars.time)
    if appending_to is not None and timeframe != appending_to.timeframe:
        raise MarketDataError(
            f"{options.symbol} is stored as {appending_to.timeframe} bars; "
            f"the appended ones make it {timeframe}"
        )
    describe_stored(report, bars, timeframe)
    session_start = options.session_start_minutes
    if session_start is None:
        session_start = current.session_start_minutes if current else 0
    entry = write_version(
        db,
        bars,
        current,
        {
            "symbol": options.symbol,
            "timeframe": timeframe,
            "owner_id": current.owner_id if current else options.owner_id,
            "session_start_minutes": session_start,
            "gap_count": report.gap_count,
        },
        files,
    )
    if appending_to is not None:
        report.rows_stored = len(bars) - appending_to.rows
    return ImportOutcome(entry=entry, report=report)


def import_bars(db: Database[Document], symbol: str, bars: Bars) -> SymbolEntry:
    """Store bars built in code (tests, benchmarks) as `symbol`, replacing it."""
    table = RawTable(bars.time, bars.open, bars.high, bars.low, bars.close, bars.volume)
    entry = import_table(db, table, ImportOptions(symbol=symbol)).entry
    if entry is None:
        raise MarketDataError(f"nothing stored for {symbol}")
    return entry


def load_missing_samples(db: Database[Document], reload: bool = False) -> list[SymbolEntry]:
    """Import the bundled sample series that are not stored yet (all of them if `reload`),
    owned by the system; samples stored before they had an owner are given it."""
    db[CATALOG_COLLECTION].update_many(
        {"_id": {"$in": list(SAMPLE_FILES)}, "owner_id": None},
        {"$set": {"owner_id": SYSTEM_OWNER}},
    )
    entries = []
    for symbol in SAMPLE_FILES:
        if reload or db[CATALOG_COLLECTION].find_one({"_id": symbol}) is None:
            options = ImportOptions(symbol=symbol, owner_id=SYSTEM_OWNER)
            outcome = import_table(db, read_sample(symbol), options)
            if outcome.entry is not None:
                entries.append(outcome.entry)
    return entries
