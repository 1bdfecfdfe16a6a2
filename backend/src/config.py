"""Settings of the API service, read from the environment."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import NoDecode

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
    sign_in_failures_per_name: int = Field(
        default=5,
        alias="SIGN_IN_FAILURES_PER_NAME",
        ge=1,
        description="Failed sign-ins for one name in 15 minutes before its sign-ins get 429.",
    )
    sign_in_failures_per_address: int = Field(
        default=20,
        alias="SIGN_IN_FAILURES_PER_ADDRESS",
        ge=1,
        description="Failed sign-ins from one client address in 15 minutes before its "
        "sign-ins get 429 (behind a reverse proxy every client has the proxy's address).",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        alias="CORS_ORIGINS",
        description="Origins whose pages may call the API from a browser, comma-separated "
        "(https://club.example.org,http://localhost:5173); none by default.",
    )

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip().rstrip("/") for origin in value.split(",") if origin.strip()]
        return value
