"""Health of the compute service: liveness, and readiness with MongoDB and the workers."""

from __future__ import annotations

from fastapi import APIRouter, Response

from backend_services.deps import StateDep
from backend_services.services.backtest.backtest_service import PoolState
from shared.web.health import Liveness, Readiness, probe_paths, readiness

router = APIRouter(tags=["health"])

HEALTH_PATH, LIVE_PATH, READY_PATH = PROBE_PATHS = probe_paths("/health")


class Health(Readiness):
    worker_pool: PoolState | None = None


@router.get(LIVE_PATH, summary="Liveness")
async def live() -> Liveness:
    """200 while the process answers."""
    return Liveness()


@router.get(
    HEALTH_PATH, summary="Service health", operation_id="health", responses={503: {"model": Health}}
)
@router.get(READY_PATH, summary="Readiness", responses={503: {"model": Health}})
async def ready(state: StateDep, response: Response) -> Health:
    """Ready (200, `ok`, or `degraded` while MongoDB is slow) unless MongoDB is down or
    refuses writes (503, `down`); with the worker pool's state."""
    report = readiness(state.monitor, ("mongo", "storage"), ("mongo", "storage"), response)
    return Health(**report.model_dump(), worker_pool=state.backtests.pool_state())
