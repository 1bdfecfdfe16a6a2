"""What the API's lifespan opens, typed: routes reach it through `deps`."""

from __future__ import annotations

from dataclasses import dataclass

from pymongo.asynchronous.database import AsyncDatabase
from starlette.requests import HTTPConnection

from backend.config import Settings
from backend.services.backtest_client import BacktestServiceClient
from backend.services.passwords import PasswordChecks
from backend.services.sign_in_throttle import SignInThrottle
from backend.stores.token_cache import TokenCache
from backend.streams.progress_hub import ProgressHub
from shared.mongo import Document
from shared.web.health_monitor import DependencyMonitor

__all__ = ["STATE_KEY", "ApiState", "api_state"]

STATE_KEY = "api"


@dataclass(frozen=True, slots=True)
class ApiState:
    settings: Settings
    database: AsyncDatabase[Document]
    backtest_client: BacktestServiceClient
    monitor: DependencyMonitor
    progress_hub: ProgressHub
    password_checks: PasswordChecks
    sign_in_throttle: SignInThrottle
    token_cache: TokenCache


def api_state(connection: HTTPConnection) -> ApiState:
    """The state the lifespan yielded under STATE_KEY, as Starlette hands it to requests
    and WebSockets."""
    state: ApiState = getattr(connection.state, STATE_KEY)
    return state
