"""Market data: upload OHLCV files, list what is stored, look at or delete one symbol.

The catalog is read here; imports and deletions are the compute service's, which owns
the bars (DATA.md), and are forwarded to it signed, on behalf of the member."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field
from pymongo.asynchronous.database import AsyncDatabase

from backend.deps import BacktestClientDep, CurrentUser, DatabaseDep
from backend.services.backtest_client import BacktestServiceRejected
from backend.services.symbol_uses import check_unused, owner_names
from backend.services.uploads import uploaded_table
from shared.contracts.market_data import (
    MAX_CANDLES,
    Candles,
    DuplicatePolicy,
    ImportMode,
    ImportOptions,
    ImportReport,
    SymbolEntry,
)
from shared.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    Unavailable,
    UnsupportedMediaType,
)
from shared.market_data.catalog import SESSION_START_LIMIT_MINUTES, find_symbol, list_symbols
from shared.mongo import Document
from shared.timeframes import Timeframe
from shared.web.errors import responses_for
from shared.web.params import SymbolPath

SYMBOLS_PATH = "/api/market-data/symbols"

router = APIRouter(tags=["market data"], responses=responses_for(Unauthorized))


_SYMBOL_EXAMPLE: dict[str, Any] = {
    "symbol": "GOOG",
    "timeframe": "1d",
    "first": "2004-08-19T00:00:00Z",
    "last": "2013-03-01T00:00:00Z",
    "rows": 2148,
    "version": 1,
    "owner_id": None,
    "owner": "administrator",
    "session_start_minutes": 0,
    "gap_count": 0,
    "timeframes": ["1d", "1w"],
}


class SymbolDetails(SymbolEntry):
    model_config = ConfigDict(json_schema_extra={"examples": [_SYMBOL_EXAMPLE]})

    timeframes: list[Timeframe] = Field(description="Every timeframe its bars can make.")
    owner: str = Field(
        description="Who imported it, by name: a member, `sample data` or `administrator`."
    )


class ImportResult(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "symbol": _SYMBOL_EXAMPLE
                    | {"symbol": "ACME", "owner_id": "59f45441", "owner": "alice"},
                    "report": {"rows_read": 2148, "rows_stored": 2148, "timeframe": "1d"},
                }
            ]
        }
    )

    symbol: SymbolDetails | None = Field(description="What is stored now; null if nothing new.")
    report: ImportReport


async def _described(
    database: AsyncDatabase[Document], entries: list[SymbolEntry]
) -> list[SymbolDetails]:
    names = await owner_names(database, (entry.owner_id for entry in entries))
    return [
        SymbolDetails(
            **entry.model_dump(),
            timeframes=entry.usable_timeframes(),
            owner=names.get(entry.owner_id, "a former member"),
        )
        for entry in entries
    ]


@router.get(SYMBOLS_PATH, summary="List stored symbols")
async def symbols(user: CurrentUser, database: DatabaseDep) -> list[SymbolDetails]:
    """Every stored symbol with its base timeframe, range, row count, version and owner."""
    return await _described(database, await list_symbols(database))


@router.get(
    SYMBOLS_PATH + "/{symbol}", summary="Describe a symbol", responses=responses_for(NotFound)
)
async def symbol_details(
    symbol: SymbolPath, user: CurrentUser, database: DatabaseDep
) -> SymbolDetails:
    """What is stored for one symbol: its timeframe and the coarser ones it can make,
    its range, rows, version and importer."""
    entry = await find_symbol(database, symbol)
    if entry is None:
        raise NotFound(f"no market data for {symbol}")
    return (await _described(database, [entry]))[0]


@router.get(
    SYMBOLS_PATH + "/{symbol}/bars",
    summary="A symbol's bars for a chart",
    responses=responses_for(NotFound, InvalidInput, Unavailable),
)
async def chart_bars(
    symbol: SymbolPath,
    user: CurrentUser,
    client: BacktestClientDep,
    timeframe: Annotated[
        Timeframe | None, Query(description="Default: the timeframe the bars are stored in.")
    ] = None,
    start: Annotated[datetime | None, Query(description="Default: the first bar.")] = None,
    end: Annotated[datetime | None, Query(description="Default: the last bar.")] = None,
    max_points: Annotated[int, Query(ge=10, le=MAX_CANDLES)] = 2_000,
    line: Annotated[
        list[str] | None,
        Query(description="Indicator lines to draw with them, such as `sma(close, 50)`."),
    ] = None,
) -> Candles:
    """The symbol's bars between `start` and `end`, joined into at most `max_points`
    candles (first open, highest high, lowest low, last close), so a million bars come
    back as a few thousand candles that keep every high and low; each `line` is read at
    the candles' last bars, computed over every bar before the range too."""
    query = {
        "timeframe": timeframe,
        "start": start.isoformat() if start else None,
        "end": end.isoformat() if end else None,
        "max_points": max_points,
        "line": line,
    }
    try:
        return await client.get_candles(symbol, query)
    except BacktestServiceRejected as rejected:
        raise rejected.as_domain_error() from None


@router.delete(
    SYMBOLS_PATH + "/{symbol}",
    summary="Delete a symbol you imported",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=responses_for(Forbidden, NotFound, Conflict, Unavailable),
)
async def remove_symbol(
    symbol: SymbolPath,
    user: CurrentUser,
    client: BacktestClientDep,
    database: DatabaseDep,
    force: Annotated[bool, Query(description="Delete it even though strategies use it.")] = False,
) -> Response:
    """Delete a symbol and its bars; only the user who imported it may. Refused (409,
    with `used_by` listing them) while strategies use it, unless `force`: finished
    backtests keep their results, trades and reports either way, and only new runs
    need bars."""
    entry = await find_symbol(database, symbol)
    if not force and entry is not None and entry.owner_id == user.id:
        await check_unused(database, symbol, user.id)
    try:
        await client.delete_symbol(symbol, user.id)
    except BacktestServiceRejected as rejected:
        raise rejected.as_domain_error() from None
    return Response(status_code=status.HTTP_204_NO_CONTENT)


_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "The file, as a form's one file field (multipart/form-data, as "
        "`curl -F file=@prices.csv` and a browser send it), or as the body itself: "
        "text/csv, application/vnd.apache.parquet, or application/octet-stream (a "
        "Parquet file is recognised by its first bytes). Other content types answer 415.",
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "A .csv, .parquet or .pq file.",
                        }
                    },
                    "required": ["file"],
                },
                "example": {
                    "file": "date,open,high,low,close,volume\n2024-01-02,10,11,9,10.5,1200"
                },
            },
            "application/octet-stream": {
                "schema": {"type": "string", "format": "binary"},
                "example": "date,open,high,low,close,volume\n2024-01-02,10,11,9,10.5,1200",
            },
        },
    }
}


@router.post(
    SYMBOLS_PATH + "/{symbol}",
    summary="Upload bars for a symbol",
    status_code=status.HTTP_201_CREATED,
    openapi_extra=_UPLOAD_BODY,
    responses=responses_for(
        Forbidden, Conflict, PayloadTooLarge, UnsupportedMediaType, InvalidInput, Unavailable
    ),
)
async def upload_bars(
    symbol: SymbolPath,
    request: Request,
    response: Response,
    user: CurrentUser,
    client: BacktestClientDep,
    database: DatabaseDep,
    mode: ImportMode = ImportMode.REPLACE,
    duplicates: DuplicatePolicy = DuplicatePolicy.REFUSE,
    session_start_minutes: Annotated[
        int | None,
        Query(ge=-SESSION_START_LIMIT_MINUTES, le=SESSION_START_LIMIT_MINUTES),
    ] = None,
) -> ImportResult:
    """Import OHLCV bars as `symbol`: a new symbol, a replacement (`mode=replace`) or
    newer bars added to it (`mode=append`; rows not newer than the stored ones are
    counted in `already_stored` and left out).

    Checked before anything is stored; refused rows answer 422 with the report (each
    problem with its first row numbers). Atomic: a refused or failed import leaves the
    symbol's previous data as it was. Only the user who first imported a symbol may
    change it (403). 200 instead of 201 when an append held nothing new.
    """
    # An empty file is refused by the compute service.
    content, table_format = await uploaded_table(request)
    options = ImportOptions(
        symbol=symbol,
        mode=mode,
        duplicates=duplicates,
        session_start_minutes=session_start_minutes,
        owner_id=user.id,
    )
    try:
        outcome = await client.import_bars(content, table_format, options)
    except BacktestServiceRejected as rejected:
        raise rejected.as_domain_error() from None
    if outcome.entry is None:
        response.status_code = status.HTTP_200_OK
    stored = (await _described(database, [outcome.entry]))[0] if outcome.entry else None
    return ImportResult(symbol=stored, report=outcome.report)
