"""Which market data is stored."""

from __future__ import annotations

from fastapi import APIRouter

from backend.deps import CurrentUser, DatabaseDep
from backend.market_data import list_symbols
from backend_services.app_common import error_responses
from backend_services.market_data.catalog import SymbolEntry

router = APIRouter(prefix="/api/market-data", tags=["market data"], responses=error_responses(401))


@router.get("/symbols")
async def symbols(user: CurrentUser, database: DatabaseDep) -> list[SymbolEntry]:
    """Every stored symbol with its base timeframe, range and row count."""
    return await list_symbols(database)
