"""Backtests: read, cancel, and the compute service's `save_result` callback."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, status

from backend.deps import (
    BacktestClientDep,
    BacktestStoreDep,
    CurrentUser,
    OwnedBacktest,
    verify_signature,
)
from backend.reconcile import reconcile
from backend.schemas import Backtest, BacktestStatus, SaveResultAck
from backend.services.backtest_client import BacktestServiceRejected, BacktestServiceUnavailable
from backend_services.app_common import error_responses
from backend_services.contracts import ExecutionReport, TradePage
from backend_services.services.backtest.trade_store import MAX_PAGE

router = APIRouter(
    prefix="/api/backtest", tags=["backtests"], responses=error_responses(400, 401, 404, 413)
)

_LIVE = {BacktestStatus.QUEUED, BacktestStatus.RUNNING}


@router.get("/{backtest_id}")
async def get_backtest(
    backtest: OwnedBacktest,
    user: CurrentUser,
    store: BacktestStoreDep,
    client: BacktestClientDep,
) -> Backtest:
    """The backtest with its status, progress and, once completed, its result.

    While it runs, status and progress are read from the compute service (and kept); if
    that service has finished but its callback has not arrived yet, the final state is
    taken from it directly.
    """
    if backtest.status in _LIVE and backtest.execution_id:
        await reconcile(store, client, backtest.id, backtest.execution_id)
        refreshed = await store.get(user.id, backtest.id)
        if refreshed is not None:
            return refreshed
    return backtest


@router.delete("/{backtest_id}", responses=error_responses(409, 502, 503))
async def cancel_backtest(
    backtest: OwnedBacktest,
    user: CurrentUser,
    store: BacktestStoreDep,
    client: BacktestClientDep,
) -> Backtest:
    """Cancel a backtest that has not finished; 409 once it has."""
    if backtest.status is BacktestStatus.PENDING:
        cancelled = await store.cancel_pending(backtest.id)
        if cancelled is not None:
            return cancelled
        backtest = await store.get(user.id, backtest.id) or backtest
    if backtest.status not in _LIVE or backtest.execution_id is None:
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"backtest is already {backtest.status.value}"
        )
    try:
        execution = await client.cancel_backtest(backtest.execution_id)
    except BacktestServiceUnavailable:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, "compute service unavailable, try again"
        ) from None
    except BacktestServiceRejected as rejected:
        if rejected.status_code != status.HTTP_409_CONFLICT:
            raise HTTPException(status.HTTP_502_BAD_GATEWAY, str(rejected)) from None
        await reconcile(store, client, backtest.id, backtest.execution_id)
        raise HTTPException(status.HTTP_409_CONFLICT, "backtest has already finished") from None
    await store.record_final(ExecutionReport.of(execution))
    final = await store.get(user.id, backtest.id)
    return final or backtest


@router.get("/{backtest_id}/trades", responses=error_responses(409, 503))
async def get_trades(
    backtest: OwnedBacktest,
    user: CurrentUser,
    store: BacktestStoreDep,
    client: BacktestClientDep,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1_000,
) -> TradePage:
    """All trades of a completed backtest, a page at a time, in order (the result itself
    carries only the first 1,000); 409 until it has completed."""
    source = await store.trades_execution(user.id, backtest.id)
    if source is None:
        raise HTTPException(status.HTTP_409_CONFLICT, f"backtest is {backtest.status.value}")
    try:
        return await client.get_trades(source, offset, limit)
    except BacktestServiceUnavailable as unavailable:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(unavailable)) from None
    except BacktestServiceRejected as rejected:
        raise HTTPException(status.HTTP_409_CONFLICT, str(rejected.detail)) from None


@router.post(
    "/save_result", dependencies=[Depends(verify_signature)], responses=error_responses(409)
)
async def save_result(report: ExecutionReport, store: BacktestStoreDep) -> SaveResultAck:
    """Called by the compute service, signed, with an execution's final state.

    Idempotent on `execution_id`: a repeat, or a report for a backtest that is already
    final, is acknowledged and changes nothing.
    """
    if await store.record_final(report):
        return SaveResultAck(stored=True)
    state = await store.state_of(report.backtest_id)
    if state is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "backtest not found")
    if state.get("execution_id") not in (None, report.execution_id):
        raise HTTPException(status.HTTP_409_CONFLICT, "backtest belongs to another execution")
    return SaveResultAck(stored=False)
