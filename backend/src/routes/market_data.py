"""Market data: upload OHLCV files, list what is stored, look at or delete one symbol."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response, status
from pydantic import BaseModel

from backend.deps import CurrentUser, DatabaseDep, ImportRunnerDep
from backend.market_data import delete_symbol, find_symbol, list_symbols
from backend.market_data_imports import ImportRefusal, ImportsUnavailable
from backend_services.app_common import error_responses
from backend_services.market_data.catalog import SESSION_START_LIMIT_MINUTES, SymbolEntry
from backend_services.market_data.importer import ImportMode, ImportOptions
from backend_services.market_data.table_files import TableFormat
from backend_services.market_data.validation import DuplicatePolicy, ImportReport
from backend_services.timeframes import Timeframe

SYMBOLS_PATH = "/api/market-data/symbols"
PARQUET_MEDIA_TYPES = {"application/vnd.apache.parquet", "application/x-parquet"}

router = APIRouter(tags=["market data"], responses=error_responses(401))

SymbolPath = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9._\-]+$")]


class SymbolDetails(SymbolEntry):
    timeframes: list[Timeframe]


class ImportResult(BaseModel):
    symbol: SymbolDetails | None
    report: ImportReport


def _details(entry: SymbolEntry) -> SymbolDetails:
    return SymbolDetails(**entry.model_dump(), timeframes=entry.usable_timeframes())


@router.get(SYMBOLS_PATH)
async def symbols(user: CurrentUser, database: DatabaseDep) -> list[SymbolDetails]:
    """Every stored symbol with its base timeframe, range, row count and version."""
    return [_details(entry) for entry in await list_symbols(database)]


@router.get(SYMBOLS_PATH + "/{symbol}", responses=error_responses(404))
async def symbol_details(
    symbol: SymbolPath, user: CurrentUser, database: DatabaseDep
) -> SymbolDetails:
    entry = await find_symbol(database, symbol)
    if entry is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no market data for {symbol}")
    return _details(entry)


@router.delete(
    SYMBOLS_PATH + "/{symbol}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(403, 404, 409),
)
async def remove_symbol(symbol: SymbolPath, user: CurrentUser, database: DatabaseDep) -> Response:
    """Delete a symbol and its bars; only the user who imported it may."""
    entry = await find_symbol(database, symbol)
    if entry is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no market data for {symbol}")
    if entry.owner_id != user.id:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"{symbol} was imported by someone else")
    if not await delete_symbol(database, entry):
        raise HTTPException(status.HTTP_409_CONFLICT, f"{symbol} changed meanwhile; try again")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "The file itself: CSV (text/csv) or Parquet "
        "(application/vnd.apache.parquet).",
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "application/vnd.apache.parquet": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


@router.post(
    SYMBOLS_PATH + "/{symbol}",
    status_code=status.HTTP_201_CREATED,
    openapi_extra=_UPLOAD_BODY,
    responses=error_responses(403, 409, 413, 422, 503),
)
async def upload_bars(
    symbol: SymbolPath,
    request: Request,
    response: Response,
    user: CurrentUser,
    runner: ImportRunnerDep,
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
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    table_format = TableFormat.PARQUET if media_type in PARQUET_MEDIA_TYPES else TableFormat.CSV
    content = await request.body()
    if not content:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "the body holds no file")
    options = ImportOptions(
        symbol=symbol,
        mode=mode,
        duplicates=duplicates,
        session_start_minutes=session_start_minutes,
        owner_id=user.id,
    )
    try:
        answer = await runner.run(content, table_format, options)
    except ImportsUnavailable as unavailable:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(unavailable)) from None
    if answer.refusal is ImportRefusal.NOT_OWNER:
        raise HTTPException(status.HTTP_403_FORBIDDEN, answer.message)
    if answer.refusal is ImportRefusal.CONFLICT:
        raise HTTPException(status.HTTP_409_CONFLICT, answer.message)
    if answer.refusal is ImportRefusal.INVALID or answer.outcome is None:
        detail: dict[str, Any] = {"msg": answer.message}
        if answer.report is not None:
            detail["report"] = answer.report.model_dump(mode="json")
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail)
    entry = answer.outcome.entry
    if entry is None:
        response.status_code = status.HTTP_200_OK
    return ImportResult(symbol=_details(entry) if entry else None, report=answer.outcome.report)
