"""Strategies, and starting their backtests: `run_backtest_task()` hands each new backtest
to the compute service in the background."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Body, Depends, Response, status
from pydantic import ValidationError

from backend.deps import (
    BacktestClientDep,
    BacktestStoreDep,
    CurrentUser,
    DatabaseDep,
    OwnedStrategy,
    SettingsDep,
    StarterDep,
    StrategyStoreDep,
)
from backend.schemas import (
    STRATEGY_EXAMPLE,
    Backtest,
    BacktestSummary,
    OptimizeRequest,
    Strategy,
    StrategyCheck,
    StrategyCreate,
    StrategyRename,
    StrategyUpdate,
)
from backend.services.backtest_client import BacktestServiceClient
from backend.services.backtest_starter import StartedBacktest
from backend.services.dispatch import (
    RECORD_HANDOVER_AFTER_S,
    dispatch_backtest,
    record_after_s,
)
from backend.services.market_checks import check_market
from backend.stores.backtests import BacktestStore
from shared.contracts.backtests import BacktestParams
from shared.contracts.executions import RunBacktestRequest
from shared.contracts.lifecycle import BacktestStatus
from shared.errors import InvalidInput, NotFound, PayloadTooLarge, Unauthorized
from shared.web.errors import error_body, responses_for

router = APIRouter(
    prefix="/api/strategy",
    tags=["strategies"],
    responses=responses_for(400, Unauthorized, NotFound, PayloadTooLarge, InvalidInput),
)


@router.post("", summary="Create a strategy", status_code=status.HTTP_201_CREATED)
async def create_strategy(
    fields: StrategyCreate, user: CurrentUser, store: StrategyStoreDep, database: DatabaseDep
) -> Strategy:
    """Save a strategy. Refused with 422, naming the line and column, when a rule does
    not parse or uses what the strategy lacks; and when no bars are stored for its
    symbol, or none its timeframe can be made from (the message lists what is)."""
    await check_market(database, fields.symbol, fields.timeframe)
    return await store.create(user.id, fields)


@router.post("/check", summary="Check a strategy without saving it")
async def check_strategy(
    fields: Annotated[dict[str, Any], Body(examples=[STRATEGY_EXAMPLE])],
    user: CurrentUser,
    database: DatabaseDep,
) -> StrategyCheck:
    """The checks of saving a strategy, with nothing saved, answered as a verdict (200)
    rather than a refusal: what saving it would refuse, with the rule, line, column and
    a hint, or the stored symbols and timeframes (a member's, so signed in). The
    dashboard checks as members type."""
    try:
        strategy = StrategyCreate.model_validate(fields)
        await check_market(database, strategy.symbol, strategy.timeframe)
    except ValidationError as invalid:
        return StrategyCheck.refused(error_body(invalid.errors(include_url=False)))
    except InvalidInput as refused:
        return StrategyCheck.refused(error_body(refused.detail))
    return StrategyCheck(ok=True)


@router.get("", summary="List your strategies")
async def list_strategies(user: CurrentUser, store: StrategyStoreDep) -> list[Strategy]:
    """Your strategies, newest first (at most 500)."""
    return await store.list(user.id)


@router.get("/{strategy_id}", summary="Get a strategy")
async def get_strategy(strategy: OwnedStrategy) -> Strategy:
    """One of your strategies; another member's is not found (404)."""
    return strategy


@router.put("/{strategy_id}", summary="Replace a strategy")
async def update_strategy(
    strategy: OwnedStrategy,
    fields: StrategyUpdate,
    user: CurrentUser,
    store: StrategyStoreDep,
    database: DatabaseDep,
) -> Strategy:
    """Replace a strategy's fields, checked as when it is created."""
    await check_market(database, fields.symbol, fields.timeframe)
    updated = await store.replace(user.id, strategy.id, fields)
    if updated is None:  # deleted meanwhile
        raise NotFound("strategy not found")
    return updated


@router.patch("/{strategy_id}", summary="Rename a strategy")
async def rename_strategy(
    strategy: OwnedStrategy, fields: StrategyRename, user: CurrentUser, store: StrategyStoreDep
) -> Strategy:
    """Give one of your strategies a new name, nothing else changed: unlike a
    replacement, it needs no stored bars for its symbol."""
    renamed = await store.rename(user.id, strategy.id, fields.name)
    if renamed is None:  # deleted meanwhile
        raise NotFound("strategy not found")
    return renamed


@router.delete(
    "/{strategy_id}", summary="Delete a strategy", status_code=status.HTTP_204_NO_CONTENT
)
async def delete_strategy(
    strategy: OwnedStrategy, user: CurrentUser, store: StrategyStoreDep
) -> Response:
    """Delete the strategy; its backtests keep the snapshot they ran and stay readable."""
    await store.delete(user.id, strategy.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


class BackgroundDispatch:
    """Hands a backtest left pending to `run_backtest_task()`, run once the response is
    sent; a backtest answered from an identical earlier one needs nothing."""

    def __init__(
        self,
        background: BackgroundTasks,
        store: BacktestStoreDep,
        client: BacktestClientDep,
        settings: SettingsDep,
    ) -> None:
        self._background = background
        self._store = store
        self._client = client
        self._attempts = settings.dispatch_attempts
        self._record_after_s = record_after_s(settings.supervise_interval_s)

    def __call__(self, started: StartedBacktest) -> Backtest:
        backtest = started.backtest
        if backtest.status is BacktestStatus.PENDING:
            self._background.add_task(
                run_backtest_task,
                backtest.id,
                self._store,
                self._client,
                self._attempts,
                started.run_request,
                self._record_after_s,
            )
        return backtest


DispatchDep = Annotated[BackgroundDispatch, Depends()]


@router.post(
    "/{strategy_id}/backtest",
    summary="Start a backtest",
    status_code=status.HTTP_202_ACCEPTED,
)
async def start_backtest(
    strategy: OwnedStrategy, params: BacktestParams, starter: StarterDep, dispatch: DispatchDep
) -> Backtest:
    """Record a backtest and hand it to the compute service in the background; answered
    as completed at once, with the stored result marked `cached`, when an identical
    backtest (same rules, parameters, costs, range and market-data version) completed
    before.

    Refused with 422, before anything is stored, when the parameters contradict each
    other or the stored market data cannot serve the symbol, timeframe or range.

    With a `portfolio`, the rules run over its symbols with one account (equal or fixed
    weights, rebalanced never or every N bars, days or weeks); the result adds each
    symbol's contribution and the correlations of their returns, and every trade names
    its symbol. Each symbol is checked as a backtest's symbol is.
    """
    return dispatch(await starter.start(strategy, params, sweep=None))


@router.post(
    "/{strategy_id}/optimize",
    summary="Start an optimization (parameter sweep)",
    status_code=status.HTTP_202_ACCEPTED,
)
async def start_optimization(
    strategy: OwnedStrategy,
    request: OptimizeRequest,
    starter: StarterDep,
    dispatch: DispatchDep,
) -> Backtest:
    """Run the strategy over every combination of a grid of parameter values (at most
    10,000, fewer where `constraint` is false) as one backtest with progress. Once
    completed, `optimization` ranks the combinations by `objective` and carries a
    heatmap matrix, and `result` is the full backtest of the best one. Read, cancel and
    page its trades as any backtest; an identical optimization is answered from the
    stored result, like a backtest.

    With `validation`, the grid is validated walk-forward instead: optimized on each
    window's train bars, its winner run on the test bars that follow; `walk_forward`
    holds the windows and the efficiency, `result` the test runs stitched.

    Refused with 422, before anything is stored, when the grid names a parameter the
    strategy does not have, a value the rules cannot use, or keeps no combination, and
    when a train window is too short for the rules' longest lookback.
    """
    params = BacktestParams.model_validate(request.model_dump(exclude={"sweep", "validation"}))
    return dispatch(await starter.start(strategy, params, request.sweep, request.validation))


@router.get("/{strategy_id}/backtests", summary="List a strategy's backtests")
async def list_backtests(
    strategy: OwnedStrategy, user: CurrentUser, store: BacktestStoreDep
) -> list[BacktestSummary]:
    """The strategy's backtests and optimizations, newest first (at most 500), with their
    status and statistics but without trades or curves."""
    return await store.list_for_strategy(user.id, strategy.id)


async def run_backtest_task(
    backtest_id: str,
    store: BacktestStore,
    client: BacktestServiceClient,
    attempts: int,
    run_request: RunBacktestRequest | None = None,
    record_after_s: float = RECORD_HANDOVER_AFTER_S,
) -> None:
    """Hand a new backtest to the compute service in the background, retrying while it
    is unreachable; BacktestSupervisor takes over if it stays so (`dispatch_backtest`).
    `run_request`: what was just recorded, sent without reading it back;
    `record_after_s`: how long the hand-over waits to be recorded."""
    await dispatch_backtest(
        backtest_id,
        store,
        client,
        attempts,
        run_request=run_request,
        record_after_s=record_after_s,
    )
