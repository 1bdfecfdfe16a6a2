"""Settings of the API service, read from the environment."""

from __future__ import annotations

from pydantic import Field

from shared.settings import SharedSettings

__all__ = ["Settings"]


class Settings(SharedSettings):
    backend_services_url: str = Field(default="http://localhost:8001", alias="BACKEND_SERVICES_URL")
    dispatch_attempts: int = Field(
        default=5, alias="DISPATCH_ATTEMPTS", ge=1, description="Tries to hand a backtest over."
    )
    reconcile_after_s: float = Field(
        default=30.0,
        alias="RECONCILE_AFTER_S",
        gt=0,
        description="A live backtest not heard of this long is checked with the compute service.",
    )
