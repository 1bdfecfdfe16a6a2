"""Executions: run, status, cancel. Only the backend calls these, signed."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, status

from backend_services.app_common import error_responses
from backend_services.contracts import BacktestExecution, RunBacktestAccepted, RunBacktestRequest
from backend_services.deps import BacktestServiceDep, verify_signature
from backend_services.services.backtest.execution_store import (
    ExecutionAlreadyFinished,
    ExecutionNotFound,
)

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


@router.delete("/{execution_id}", responses=error_responses(404, 409))
async def cancel(execution_id: str, service: BacktestServiceDep) -> BacktestExecution:
    """Cancel a queued or running execution; 409 once it has finished."""
    try:
        return await service.cancel(execution_id)
    except ExecutionNotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "execution not found") from None
    except ExecutionAlreadyFinished as finished:
        raise HTTPException(status.HTTP_409_CONFLICT, str(finished)) from None
