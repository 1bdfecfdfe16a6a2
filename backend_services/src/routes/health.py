"""Liveness with MongoDB reachability and the worker pool's state."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel

from backend_services.deps import BacktestServiceDep
from backend_services.health_monitor import DependencyMonitor
from backend_services.services.backtest.worker_pool import PoolState

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    mongo: bool
    checked_at: datetime | None
    worker_pool: PoolState | None


HEALTH_PATH = "/health"


@router.get(HEALTH_PATH, responses={503: {"model": Health}})
async def health(request: Request, response: Response, service: BacktestServiceDep) -> Health:
    """200 when MongoDB answered its latest ping (checked every second), 503 otherwise."""
    monitor: DependencyMonitor = request.app.state.monitor
    mongo = monitor.outcome("mongo")
    if not mongo.ok:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return Health(
        status="ok" if mongo.ok else "degraded",
        mongo=mongo.ok,
        checked_at=mongo.checked_at,
        worker_pool=service.pool_state(),
    )
