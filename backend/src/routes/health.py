"""Liveness of the API, MongoDB and the compute service."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from fastapi import APIRouter, Response, status
from pydantic import BaseModel

from backend.deps import BacktestClientDep, DatabaseDep
from backend.services.backtest_client import BacktestServiceUnavailable

router = APIRouter(prefix="/api", tags=["health"])
PING_TIMEOUT_S = 2.0


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    mongo: bool
    backend_services: dict[str, Any] | None


@router.get("/health", responses={503: {"model": Health}})
async def health(database: DatabaseDep, client: BacktestClientDep, response: Response) -> Health:
    """200 when MongoDB answers; the compute service's own report is included as is."""
    try:
        await asyncio.wait_for(database.command("ping"), PING_TIMEOUT_S)
        mongo_ok = True
    except Exception:
        mongo_ok = False
    try:
        compute: dict[str, Any] | None = await asyncio.wait_for(client.health(), PING_TIMEOUT_S)
    except (BacktestServiceUnavailable, TimeoutError):
        compute = None
    if not mongo_ok:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return Health(status="ok" if mongo_ok else "degraded", mongo=mongo_ok, backend_services=compute)
