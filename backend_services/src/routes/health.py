"""Liveness with MongoDB reachability and the worker pool's state."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Response, status
from pydantic import BaseModel

from backend_services.deps import StateDep
from backend_services.services.backtest.backtest_service import PoolState

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    mongo: bool
    checked_at: datetime | None
    worker_pool: PoolState | None


HEALTH_PATH = "/health"


@router.get(HEALTH_PATH, responses={503: {"model": Health}})
async def health(state: StateDep, response: Response) -> Health:
    """200 when MongoDB answered its latest ping (checked every second), 503 otherwise."""
    mongo = state.monitor.outcome("mongo")
    if not mongo.ok:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return Health(
        status="ok" if mongo.ok else "degraded",
        mongo=mongo.ok,
        checked_at=mongo.checked_at,
        worker_pool=state.backtests.pool_state(),
    )
