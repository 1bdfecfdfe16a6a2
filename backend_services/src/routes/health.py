"""Liveness with MongoDB reachability and the worker pool's state."""

from __future__ import annotations

import asyncio
from typing import Literal

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel

from backend_services.deps import BacktestServiceDep
from backend_services.services.backtest.worker_pool import PoolState

router = APIRouter(tags=["health"])
PING_TIMEOUT_S = 2.0


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    mongo: bool
    worker_pool: PoolState | None


@router.get("/health", responses={503: {"model": Health}})
async def health(request: Request, response: Response, service: BacktestServiceDep) -> Health:
    """200 when MongoDB answers a ping, 503 otherwise."""
    try:
        await asyncio.wait_for(request.app.state.database.command("ping"), PING_TIMEOUT_S)
        mongo_ok = True
    except Exception:
        mongo_ok = False
    if not mongo_ok:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return Health(
        status="ok" if mongo_ok else "degraded", mongo=mongo_ok, worker_pool=service.pool_state()
    )
