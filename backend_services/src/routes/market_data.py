"""Market-data imports and deletions. Only the backend calls these, signed, on behalf of
the member it names in `owner_id`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from backend_services.deps import MarketDataServiceDep
from shared.contracts.common import Id
from shared.contracts.market_data import (
    MAX_CANDLES,
    Candles,
    DuplicatePolicy,
    ImportMode,
    ImportOptions,
    ImportOutcome,
    TableFormat,
)
from shared.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    Unavailable,
)
from shared.market_data.catalog import SESSION_START_LIMIT_MINUTES
from shared.paths import COMPUTE_MARKET_DATA_PATH
from shared.timeframes import Timeframe
from shared.web.errors import responses_for
from shared.web.params import SymbolPath

router = APIRouter(
    prefix=COMPUTE_MARKET_DATA_PATH,
    tags=["market data"],
    responses=responses_for(400, Unauthorized, PayloadTooLarge),
)


@router.post(
    "/{symbol}",
    status_code=status.HTTP_201_CREATED,
    responses=responses_for(Forbidden, Conflict, InvalidInput, Unavailable),
)
async def import_bars(
    symbol: SymbolPath,
    request: Request,
    response: Response,
    service: MarketDataServiceDep,
    owner_id: Annotated[Id, Query()],
    table_format: Annotated[TableFormat, Query(alias="format")] = TableFormat.CSV,
    mode: ImportMode = ImportMode.REPLACE,
    duplicates: DuplicatePolicy = DuplicatePolicy.REFUSE,
    session_start_minutes: Annotated[
        int | None,
        Query(ge=-SESSION_START_LIMIT_MINUTES, le=SESSION_START_LIMIT_MINUTES),
    ] = None,
) -> ImportOutcome:
    """Import the body (the file itself) as `symbol`; 200 instead of 201 when an append
    held nothing new."""
    options = ImportOptions(
        symbol=symbol,
        mode=mode,
        duplicates=duplicates,
        session_start_minutes=session_start_minutes,
        owner_id=owner_id,
    )
    outcome = await service.import_file(await request.body(), table_format, options)
    if outcome.entry is None:
        response.status_code = status.HTTP_200_OK
    return outcome


@router.get("/{symbol}/bars", responses=responses_for(NotFound, InvalidInput))
async def bars_for_a_chart(
    symbol: SymbolPath,
    service: MarketDataServiceDep,
    timeframe: Timeframe | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    max_points: Annotated[int, Query(ge=10, le=MAX_CANDLES)] = 2_000,
    line: Annotated[list[str] | None, Query()] = None,
) -> Candles:
    """The symbol's bars in `timeframe` (its own by default) between `start` and `end`
    (all by default), joined into at most `max_points` candles, with the indicator
    `line`s (rule text such as `sma(close, 50)`) read at each candle's last bar."""
    return await service.candles(symbol, timeframe, start, end, max_points, line or [])


@router.delete(
    "/{symbol}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=responses_for(Forbidden, NotFound, Conflict),
)
async def delete_symbol(
    symbol: SymbolPath, service: MarketDataServiceDep, owner_id: Annotated[Id, Query()]
) -> Response:
    """Delete a symbol and its bars, if `owner_id` imported it."""
    await service.delete(symbol, owner_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
