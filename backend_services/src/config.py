"""Settings of the compute service, read from the environment."""

from __future__ import annotations

import os

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from backend_services.signing import DEFAULT_SERVICE_SECRET


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    service_port: int = Field(default=8001, alias="SERVICE_PORT")
    api_service_url: str = Field(default="http://localhost:8000", alias="API_SERVICE_URL")
    mongo_url: str = Field(default="mongodb://localhost:27017", alias="MONGO_URL")
    mongo_db: str = Field(default="bot_club_db", alias="MONGO_DB")
    service_secret: str = Field(
        default=DEFAULT_SERVICE_SECRET, alias="SERVICE_SECRET", min_length=1
    )
    workers: int = Field(default_factory=lambda: os.cpu_count() or 1, alias="WORKERS", ge=1, le=64)
    max_attempts: int = Field(
        default=3, alias="MAX_ATTEMPTS", ge=1, description="Runs of one execution before it fails."
    )
    heartbeat_interval_s: float = Field(default=1.0, alias="HEARTBEAT_INTERVAL_S", gt=0)
    heartbeat_timeout_s: float = Field(
        default=15.0,
        alias="HEARTBEAT_TIMEOUT_S",
        gt=0,
        description="A running execution silent this long is taken for dead and re-run.",
    )
    supervise_interval_s: float = Field(default=5.0, alias="SUPERVISE_INTERVAL_S", gt=0)
    market_data_cache_mb: int = Field(
        default=256,
        alias="MARKET_DATA_CACHE_MB",
        ge=0,
        description="Bars each worker process keeps loaded, least recently used first out.",
    )
    max_concurrent_requests: int = Field(
        default=16,
        alias="MAX_CONCURRENT_REQUESTS",
        ge=1,
        description="Requests worked on at once; more wait their turn (health never waits).",
    )
    delivery_max_delay_s: float = Field(
        default=30.0, alias="DELIVERY_MAX_DELAY_S", gt=0, description="Longest retry backoff."
    )
