"""Injectable pieces of the compute service's routes (all `async def`: a plain `def`
dependency would cost a thread-pool hop per request)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from backend_services.services.backtest.backtest_service import BacktestService
from backend_services.services.market_data_service import MarketDataService
from backend_services.state import ComputeState, compute_state


async def _state(request: Request) -> ComputeState:
    return compute_state(request)


StateDep = Annotated[ComputeState, Depends(_state)]


async def _backtest_service(state: StateDep) -> BacktestService:
    return state.backtests


async def _market_data_service(state: StateDep) -> MarketDataService:
    return state.market_data


BacktestServiceDep = Annotated[BacktestService, Depends(_backtest_service)]
MarketDataServiceDep = Annotated[MarketDataService, Depends(_market_data_service)]
