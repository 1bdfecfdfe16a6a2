"""Executions: run, status, cancel. Only the backend calls these, signed (the request
intake checks every signature before a route runs)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from backend_services.deps import BacktestServiceDep
from shared.contracts.executions import BacktestExecution, RunBacktestAccepted, RunBacktestRequest
from shared.contracts.results import TradePage
from shared.errors import Conflict, NotFound, PayloadTooLarge, Unauthorized
from shared.limits import MAX_TRADES_PAGE
from shared.web.errors import responses_for

router = APIRouter(
    prefix="/backtest",
    tags=["backtest"],
    responses=responses_for(400, Unauthorized, PayloadTooLarge),
)


@router.post("/run", status_code=status.HTTP_202_ACCEPTED)
async def run_backtest(
    request: RunBacktestRequest, service: BacktestServiceDep
) -> RunBacktestAccepted:
    """Queue a backtest; a repeated `backtest_id` returns the execution it already has."""
    execution = await service.submit(request)
    return RunBacktestAccepted(execution_id=execution.id, status=execution.status)


@router.get("/{execution_id}/status", responses=responses_for(NotFound))
async def get_status(execution_id: str, service: BacktestServiceDep) -> BacktestExecution:
    return await service.get(execution_id)


@router.get("/{execution_id}/trades", responses=responses_for(NotFound, Conflict))
async def get_trades(
    execution_id: str,
    service: BacktestServiceDep,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_TRADES_PAGE)] = 1_000,
) -> TradePage:
    """A page of a completed execution's trades; 409 while it has not completed."""
    return await service.trades(execution_id, offset, limit)


@router.delete("/{execution_id}", responses=responses_for(NotFound, Conflict))
async def cancel(execution_id: str, service: BacktestServiceDep) -> BacktestExecution:
    """Cancel a queued or running execution; 409 once it has finished."""
    return await service.cancel(execution_id)


@router.delete(
    "/{execution_id}/record",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=responses_for(NotFound, Conflict),
)
async def remove(execution_id: str, service: BacktestServiceDep) -> Response:
    """Delete a finished execution and its trades (the member deleted the backtest);
    409 while it is queued or running."""
    await service.remove(execution_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
