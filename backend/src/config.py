"""Settings of the API service, read from the environment."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from backend_services.signing import DEFAULT_SERVICE_SECRET


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    backend_services_url: str = Field(default="http://localhost:8001", alias="BACKEND_SERVICES_URL")
    mongo_url: str = Field(default="mongodb://localhost:27017", alias="MONGO_URL")
    mongo_db: str = Field(default="bot_club_db", alias="MONGO_DB")
    service_secret: str = Field(
        default=DEFAULT_SERVICE_SECRET, alias="SERVICE_SECRET", min_length=1
    )
    dispatch_attempts: int = Field(
        default=5, alias="DISPATCH_ATTEMPTS", ge=1, description="Tries to hand a backtest over."
    )
    supervise_interval_s: float = Field(default=5.0, alias="SUPERVISE_INTERVAL_S", gt=0)
    max_upload_mb: int = Field(
        default=200, alias="MAX_UPLOAD_MB", ge=1, description="Largest market-data upload."
    )
    max_concurrent_requests: int = Field(
        default=16,
        alias="MAX_CONCURRENT_REQUESTS",
        ge=1,
        description="Requests worked on at once; more wait their turn (health never waits).",
    )
    reconcile_after_s: float = Field(
        default=30.0,
        alias="RECONCILE_AFTER_S",
        gt=0,
        description="A live backtest not heard of this long is checked with the compute service.",
    )
