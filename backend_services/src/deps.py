"""Injectable pieces of the compute service's routes (all `async def`: a plain `def`
dependency would cost a thread-pool hop per request)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from backend_services.services.backtest.backtest_service import BacktestService
from backend_services.signing import signature_verifier


async def _backtest_service(request: Request) -> BacktestService:
    service: BacktestService = request.app.state.backtest_service
    return service


def _service_secret(request: Request) -> str:
    secret: str = request.app.state.settings.service_secret
    return secret


BacktestServiceDep = Annotated[BacktestService, Depends(_backtest_service)]
verify_signature = signature_verifier(_service_secret)
