"""Liveness of the API, MongoDB and the compute service."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Response, status
from pydantic import BaseModel

from backend.deps import StateDep

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    mongo: bool
    checked_at: datetime | None
    backend_services: dict[str, Any] | None


HEALTH_PATH = "/api/health"


@router.get(HEALTH_PATH, responses={503: {"model": Health}})
async def health(state: StateDep, response: Response) -> Health:
    """200 when MongoDB answered its latest ping (checked every second); the compute
    service's own latest report is included as it came, null when unreachable."""
    mongo = state.monitor.outcome("mongo")
    compute = state.monitor.outcome("backend_services")
    if not mongo.ok:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return Health(
        status="ok" if mongo.ok else "degraded",
        mongo=mongo.ok,
        checked_at=mongo.checked_at,
        backend_services=compute.detail if compute.ok else None,
    )
