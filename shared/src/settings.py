"""The settings both services read, under the same environment variable names."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.signing import DEFAULT_SERVICE_SECRET

__all__ = ["SharedSettings"]


class SharedSettings(BaseSettings):
    """The base of each service's Settings: the variables both read."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    mongo_url: str = Field(default="mongodb://localhost:27017", alias="MONGO_URL")
    mongo_db: str = Field(default="bot_club_db", alias="MONGO_DB")
    service_secret: str = Field(
        default=DEFAULT_SERVICE_SECRET, alias="SERVICE_SECRET", min_length=1
    )
    supervise_interval_s: float = Field(default=5.0, alias="SUPERVISE_INTERVAL_S", gt=0)
    max_concurrent_requests: int = Field(
        default=16,
        alias="MAX_CONCURRENT_REQUESTS",
        ge=1,
        description="Requests worked on at once; more wait their turn (health never waits).",
    )
    body_timeout_s: float = Field(
        default=30.0,
        alias="BODY_TIMEOUT_S",
        gt=0,
        description="A request body must arrive within this, plus a second per 64 KiB.",
    )
    max_upload_mb: int = Field(
        default=200, alias="MAX_UPLOAD_MB", ge=1, description="Largest market-data upload."
    )
