"""Backtests: read, cancel, and the compute service's pushes: live changes (`events`)
and final states (`save_result`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response, status
from fastapi.responses import HTMLResponse, StreamingResponse

from backend.deps import (
    BacktestClientDep,
    BacktestStoreDep,
    CurrentUser,
    OutcomesDep,
    OwnedBacktest,
    ProgressHubDep,
    RankingStoreDep,
    ReadableBacktest,
    StrategyStoreDep,
)
from backend.outputs.exports import ranking_csv, trades_csv
from backend.outputs.report import report_html
from backend.outputs.run_description import run_description
from backend.schemas import Backtest, SaveResultAck
from backend.services.backtest_client import BacktestServiceRejected
from backend.services.chart_lines import chart_lines
from backend.stores.backtests import BacktestStore
from backend.stores.rankings import RankingPage, RankingSort, RankingStore, page_of
from backend.stores.users import User
from shared.contracts.executions import ExecutionReport, ExecutionUpdate
from shared.contracts.market_data import MAX_CANDLES, Candles
from shared.contracts.results import TradePage
from shared.errors import (
    BadGateway,
    Conflict,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    Unavailable,
)
from shared.limits import MAX_TRADES_PAGE
from shared.web.errors import responses_for
from shared.web.json_body import json_body

MAX_RANKING_PAGE = 1_000

router = APIRouter(
    prefix="/api/backtest",
    tags=["backtests"],
    responses=responses_for(400, Unauthorized, NotFound, PayloadTooLarge),
)


@router.get("/{backtest_id}", summary="Get a backtest")
async def get_backtest(backtest: ReadableBacktest, hub: ProgressHubDep) -> Backtest:
    """The backtest with its status, progress and, once completed, its result.

    While it runs, status and progress are the latest its worker pushed to this service:
    a read never waits on the compute service.
    """
    return hub.current(backtest)


@router.delete(
    "/{backtest_id}",
    summary="Cancel (or, with purge, delete) a backtest",
    response_model=Backtest,
    responses=responses_for(Conflict, BadGateway, Unavailable)
    | {204: {"description": "With `purge=true`: the backtest is deleted."}},
)
async def cancel_backtest(
    backtest: ReadableBacktest,
    user: CurrentUser,
    outcomes: OutcomesDep,
    purge: Annotated[
        bool, Query(description="Delete the finished backtest, its trades and ranking.")
    ] = False,
) -> Backtest | Response:
    """Cancel a backtest that has not finished (409 once it has). With `purge=true`,
    delete a finished one instead, with its trades and ranking unless another backtest
    answered from it still reads them (409 while it runs: cancel it first). A backtest
    this process handed over a moment ago is read as it holds it: with its execution,
    so the cancel reaches the compute service even before the hand-over is recorded."""
    if purge:
        await outcomes.purge(user.id, backtest)
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    return await outcomes.cancel(user.id, backtest)


@router.get(
    "/{backtest_id}/trades",
    summary="Page through a backtest's trades",
    responses=responses_for(Conflict, Unavailable),
)
async def get_trades(
    backtest: OwnedBacktest,
    user: CurrentUser,
    store: BacktestStoreDep,
    client: BacktestClientDep,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_TRADES_PAGE)] = 1_000,
) -> TradePage:
    """All trades of a completed backtest, a page at a time, in order (the result itself
    carries only the first 1,000); 409 until it has completed."""
    source = await store.trades_execution(user.id, backtest.id)
    if source is None:
        raise Conflict(f"backtest is {backtest.status.value}")
    try:
        return await client.get_trades(source, offset, limit)
    except BacktestServiceRejected as rejected:
        raise Conflict(rejected.detail) from None


@router.get(
    "/{backtest_id}/candles",
    summary="A backtest's bars and indicator lines for a chart",
    responses=responses_for(Conflict, InvalidInput, Unavailable),
)
async def get_candles(
    backtest: OwnedBacktest,
    client: BacktestClientDep,
    start: Annotated[datetime | None, Query(description="Default: the run's start.")] = None,
    end: Annotated[datetime | None, Query(description="Default: the run's end.")] = None,
    max_points: Annotated[int, Query(ge=10, le=MAX_CANDLES)] = 2_000,
) -> Candles:
    """The run's symbol in its timeframe between `start` and `end`, joined into at most
    `max_points` candles (as the market-data bars endpoint), with a line for every
    indicator series its rules use. 409 until it has a result; 404 once its bars are
    deleted (the result itself stays readable)."""
    strategy = backtest.strategy
    if backtest.result is None or strategy is None:
        raise Conflict(f"backtest is {backtest.status.value}")
    result = backtest.result
    query = {
        "timeframe": result.timeframe,
        "start": (start or result.start).isoformat(),
        "end": (end or result.end).isoformat(),
        "max_points": max_points,
        "line": chart_lines(strategy, backtest),
    }
    try:
        return await client.get_candles(result.symbol, query)
    except BacktestServiceRejected as rejected:
        raise rejected.as_domain_error() from None


@router.get(
    "/{backtest_id}/ranking",
    summary="Page through an optimization's ranking",
    responses=responses_for(Conflict, 422),
)
async def get_ranking(
    backtest: OwnedBacktest,
    user: CurrentUser,
    store: BacktestStoreDep,
    rankings: RankingStoreDep,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_RANKING_PAGE)] = 100,
    sort: RankingSort = RankingSort.RANK,
    descending: Annotated[
        bool, Query(description="Largest first; by default `rank` ascends, statistics descend.")
    ]
    | None = None,
) -> RankingPage:
    """A completed optimization's combinations, a page at a time, in the sweep's order
    (`rank`) or by any statistic; combinations without a value for it (an undefined
    ratio) come last. 409 until it has completed, or for a plain backtest."""
    rows = await _ranking_rows(backtest, user, store, rankings)
    order = descending if descending is not None else sort is not RankingSort.RANK
    return page_of(rows, offset, limit, sort, order)


@router.get(
    "/{backtest_id}/trades.csv",
    summary="Download a backtest's trades as CSV",
    response_class=StreamingResponse,
    responses=responses_for(Conflict, Unavailable)
    | {200: {"content": {"text/csv": {"example": "side,entry_time,...\nlong,2005-03-02..."}}}},
)
async def download_trades(
    backtest: OwnedBacktest, user: CurrentUser, store: BacktestStoreDep, client: BacktestClientDep
) -> StreamingResponse:
    """Every trade of a completed backtest, one row each, in order (409 until it has
    completed)."""
    source = await store.trades_execution(user.id, backtest.id)
    if source is None:
        raise Conflict(f"backtest is {backtest.status.value}")
    return StreamingResponse(
        trades_csv(client, source, run_description(backtest)),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="trades-{backtest.id}.csv"'},
    )


@router.get(
    "/{backtest_id}/ranking.csv",
    summary="Download an optimization's ranking as CSV",
    response_class=Response,
    responses=responses_for(Conflict)
    | {200: {"content": {"text/csv": {"example": "rank,fast,slow,objective,...\n1,10,40,1.12"}}}},
)
async def download_ranking(
    backtest: OwnedBacktest, user: CurrentUser, store: BacktestStoreDep, rankings: RankingStoreDep
) -> Response:
    """Every combination of a completed optimization, best first: its rank, the swept
    parameters' values and its statistics (409 until completed, or for a backtest)."""
    rows = await _ranking_rows(backtest, user, store, rankings)
    return Response(
        ranking_csv(rows, run_description(backtest)),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="ranking-{backtest.id}.csv"'},
    )


@router.get(
    "/{backtest_id}/report.html",
    summary="Download a backtest's report as one HTML file",
    response_class=HTMLResponse,
    responses=responses_for(Conflict)
    | {200: {"content": {"text/html": {"example": "<!doctype html><html>...</html>"}}}},
)
async def download_report(
    backtest: OwnedBacktest, user: CurrentUser, strategies: StrategyStoreDep
) -> HTMLResponse:
    """A completed backtest's equity, buy-and-hold and drawdown charts, its statistics
    and its trades (the first 1,000) in one self-contained HTML file that opens offline
    (409 until completed)."""
    if backtest.result is None:
        raise Conflict(f"backtest is {backtest.status.value}: it has no result to report")
    strategy = await strategies.get(user.id, backtest.strategy_id)
    name = strategy.name if strategy else f"strategy {backtest.strategy_id}"
    return HTMLResponse(
        report_html(backtest, name),
        headers={"Content-Disposition": f'attachment; filename="report-{backtest.id}.html"'},
    )


@router.post(
    "/save_result",
    summary="Receive an execution's final state (compute service only)",
    include_in_schema=False,
)
async def save_result(
    report: Annotated[ExecutionReport, Depends(json_body(ExecutionReport))],
    outcomes: OutcomesDep,
) -> SaveResultAck:
    """Called by the compute service, signed (checked by the request intake before the
    body is read), with an execution's final state (validated from its bytes: a
    million-bar run's is half a megabyte).

    Idempotent on `execution_id`: a repeat, or a report for a backtest that is already
    final, is acknowledged and changes nothing. A final state stored reaches the
    backtest's subscribers at once.
    """
    return await outcomes.save_result(report)


@router.post(
    "/events",
    summary="Receive an execution's live change (compute service only)",
    status_code=status.HTTP_204_NO_CONTENT,
    include_in_schema=False,
)
async def receive_event(update: ExecutionUpdate, hub: ProgressHubDep) -> Response:
    """Called by the worker running an execution, signed, when it claims the execution
    and as its progress moves: handed to the backtest's subscribers, and shown by reads
    while it runs. Nothing is stored: the final state arrives through `save_result`."""
    hub.publish_live(update)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


async def _ranking_rows(
    backtest: Backtest, user: User, store: BacktestStore, rankings: RankingStore
) -> list[dict[str, Any]]:
    source = await store.trades_execution(user.id, backtest.id)
    if source is None or backtest.optimization is None:
        kind = "an optimization" if backtest.sweep else "not an optimization"
        raise Conflict(f"backtest is {backtest.status.value}, {kind}: it has no ranking")
    rows = await rankings.rows(source)
    if rows is None:  # stored before rankings were kept apart: the rows it carries
        rows = [row.model_dump() for row in backtest.optimization.ranked]
    return rows
