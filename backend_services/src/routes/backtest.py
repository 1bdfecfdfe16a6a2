"""Executions: run, status, cancel. Only the backend calls these, signed."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, status

from backend_services.app_common import error_responses
from backend_services.contracts import (
    BacktestExecution,
    RunBacktestAccepted,
    RunBacktestRequest,
    TradePage,
)
from backend_services.deps import BacktestServiceDep, verify_signature
from backend_services.services.backtest.execution_store import (
    ExecutionAlreadyFinished,
    ExecutionNotCompleted,
    ExecutionNotFound,
)
from backend_services.services.backtest.trade_store import MAX_PAGE

router = APIRouter(
    prefix="/backtest",
    tags=["backtest"],
    dependencies=[Depends(verify_signature)],
    responses=error_responses(400, 401, 413),
)


@router.post("/run", status_code=status.HTTP_202_ACCEPTED)
async def run_backtest(
    request: RunBacktestRequest, service: BacktestServiceDep
) -> RunBacktestAccepted:
    """Queue a backtest; a repeated `backtest_id` returns the execution it already has."""
    execution = await service.submit(request)
    return RunBacktestAccepted(execution_id=execution.id, status=execution.status)


@router.get("/{execution_id}/status", responses=error_responses(404))
async def get_status(execution_id: str, service: BacktestServiceDep) -> BacktestExecution:
    try:
        return await service.get(execution_id)
    except ExecutionNotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "execution not found") from None


@router.get("/{execution_id}/trades", responses=error_responses(404, 409))
async def get_trades(
    execution_id: str,
    service: BacktestServiceDep,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1_000,
) -> TradePage:
    """A page of a completed execution's trades; 409 while it has not completed."""
    try:
        return await service.trades(execution_id, offset, limit)
    except ExecutionNotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "execution not found") from None
    except ExecutionNotCompleted as not_completed:
        raise HTTPException(status.HTTP_409_CONFLICT, str(not_completed)) from None


@router.delete("/{execution_id}", responses=error_responses(404, 409))
async def cancel(execution_id: str, service: BacktestServiceDep) -> BacktestExecution:
    """Cancel a queued or running execution; 409 once it has finished."""
    try:
        return await service.cancel(execution_id)
    except ExecutionNotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "execution not found") from None
    except ExecutionAlreadyFinished as finished:
        raise HTTPException(status.HTTP_409_CONFLICT, str(finished)) from None
