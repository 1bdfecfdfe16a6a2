"""What the compute service's lifespan opens, typed: routes reach it through `deps`."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from backend_services.config import Settings
from backend_services.services.backtest.backtest_service import BacktestService
from backend_services.services.market_data_service import MarketDataService
from shared.web.health_monitor import DependencyMonitor

__all__ = ["STATE_KEY", "ComputeState", "compute_state"]

STATE_KEY = "compute"


@dataclass(frozen=True, slots=True)
class ComputeState:
    settings: Settings
    backtests: BacktestService
    market_data: MarketDataService
    monitor: DependencyMonitor


def compute_state(request: Request) -> ComputeState:
    """The state the lifespan yielded under STATE_KEY, as Starlette hands it to requests."""
    state: ComputeState = getattr(request.state, STATE_KEY)
    return state
