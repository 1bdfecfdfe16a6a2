"""Health probes both services answer alike, from the dependency monitor's memory.

- liveness (`.../live`): the process answers; never anything else, so a supervisor
  restarts only a process that is stuck.
- readiness (`.../ready`, and the plain health path): 200 while the service can do
  its work, `ok` or `degraded` (a dependency is slow, or an optional one is down); 503
  `down` when a dependency it cannot work without is down.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Literal

from fastapi import Response, status
from pydantic import BaseModel, ConfigDict

from shared.web.health_monitor import DependencyMonitor, DependencyState

__all__ = ["Dependency", "Liveness", "Readiness", "probe_paths", "readiness"]


class Liveness(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "alive"}]})

    status: Literal["alive"] = "alive"


class Dependency(BaseModel):
    state: DependencyState
    checked_at: datetime | None
    latency_ms: float | None


class Readiness(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "status": "ok",
                    "mongo": True,
                    "checked_at": "2026-11-30T09:00:00Z",
                    "dependencies": {
                        "mongo": {
                            "state": "up",
                            "checked_at": "2026-11-30T09:00:00Z",
                            "latency_ms": 0.8,
                        }
                    },
                }
            ]
        }
    )

    status: Literal["ok", "degraded", "down"]
    mongo: bool = False
    checked_at: datetime | None = None
    dependencies: dict[str, Dependency]


def probe_paths(health_path: str) -> tuple[str, str, str]:
    """The plain health path and its liveness and readiness probes."""
    return health_path, f"{health_path}/live", f"{health_path}/ready"


def readiness(
    monitor: DependencyMonitor,
    dependencies: Collection[str],
    required: Collection[str],
    response: Response,
) -> Readiness:
    """The state of `dependencies`; 503 when one of `required` is down."""
    outcomes = {name: monitor.outcome(name) for name in dependencies}
    if any(not outcomes[name].ok for name in required):
        overall: Literal["ok", "degraded", "down"] = "down"
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    elif all(outcome.state is DependencyState.UP for outcome in outcomes.values()):
        overall = "ok"
    else:
        overall = "degraded"
    mongo = outcomes.get("mongo")
    return Readiness(
        status=overall,
        mongo=mongo.ok if mongo else False,
        checked_at=mongo.checked_at if mongo else None,
        dependencies={
            name: Dependency(
                state=outcome.state, checked_at=outcome.checked_at, latency_ms=outcome.latency_ms
            )
            for name, outcome in outcomes.items()
        },
    )
