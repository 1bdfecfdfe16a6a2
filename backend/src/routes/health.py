"""Health of the API: liveness, and readiness with MongoDB and the compute service."""

from __future__ import annotations

from fastapi import APIRouter, Response

from backend.deps import StateDep
from backend.services.compute_health import ComputeReport
from shared.web.health import Liveness, Readiness, probe_paths, readiness

router = APIRouter(tags=["health"])

HEALTH_PATH, LIVE_PATH, READY_PATH = PROBE_PATHS = probe_paths("/api/health")
# Without MongoDB, or with MongoDB refusing writes, the API cannot do its work.
_REQUIRED = ("mongo", "storage")


class Health(Readiness):
    backend_services: ComputeReport | None = None


@router.get(LIVE_PATH, summary="Liveness")
async def live() -> Liveness:
    """200 while the process answers."""
    return Liveness()


@router.get(
    HEALTH_PATH, summary="Service health", operation_id="health", responses={503: {"model": Health}}
)
@router.get(READY_PATH, summary="Readiness", responses={503: {"model": Health}})
async def ready(state: StateDep, response: Response) -> Health:
    """Ready (200, `ok`, or `degraded` while MongoDB is slow or the compute service
    unreachable, timing out or answering anything but a readiness report: backtests
    then wait) unless MongoDB is down (503, `down`). The compute service's own latest
    report is included as it came, null when it has sent none."""
    compute = state.monitor.outcome("backend_services").detail
    report = readiness(
        state.monitor, ("mongo", "storage", "backend_services"), ("mongo", "storage"), response
    )
    return Health(
        **report.model_dump(),
        backend_services=compute if isinstance(compute, ComputeReport) else None,
    )
