"""Strategies, and starting their backtests: `run_backtest_task()` hands each new backtest
to the compute service in the background."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, HTTPException, Response, status
from pydantic import ValidationError

from backend.backtests import BacktestStore
from backend.deps import (
    BacktestClientDep,
    BacktestStoreDep,
    CurrentUser,
    DatabaseDep,
    OwnedStrategy,
    SettingsDep,
    StrategyStoreDep,
)
from backend.market_data import NoDataForBacktest, check_data_for
from backend.schemas import (
    Backtest,
    BacktestStatus,
    BacktestSummary,
    OptimizeRequest,
    Strategy,
    StrategyCreate,
    StrategyUpdate,
)
from backend.services.backtest_client import (
    BacktestServiceClient,
    BacktestServiceRejected,
    BacktestServiceUnavailable,
)
from backend_services.app_common import error_responses
from backend_services.contracts import (
    BacktestParams,
    ResolvedBacktest,
    StrategySnapshot,
    Sweep,
    check_sweep,
)

logger = logging.getLogger(__name__)
router = APIRouter(
    prefix="/api/strategy", tags=["strategies"], responses=error_responses(400, 401, 404, 413)
)

FIRST_RETRY_DELAY_S = 0.5


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_strategy(
    fields: StrategyCreate, user: CurrentUser, store: StrategyStoreDep
) -> Strategy:
    return await store.create(user.id, fields)


@router.get("")
async def list_strategies(user: CurrentUser, store: StrategyStoreDep) -> list[Strategy]:
    return await store.list(user.id)


@router.get("/{strategy_id}")
async def get_strategy(strategy: OwnedStrategy) -> Strategy:
    return strategy


@router.put("/{strategy_id}")
async def update_strategy(
    strategy: OwnedStrategy, fields: StrategyUpdate, user: CurrentUser, store: StrategyStoreDep
) -> Strategy:
    updated = await store.replace(user.id, strategy.id, fields)
    if updated is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "strategy not found")
    return updated


@router.delete("/{strategy_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_strategy(
    strategy: OwnedStrategy, user: CurrentUser, store: StrategyStoreDep
) -> Response:
    """Delete the strategy; its backtests keep the snapshot they ran and stay readable."""
    await store.delete(user.id, strategy.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


class BacktestStarter:
    """Starts backtests and optimizations for the current user: checks them against
    the strategy and the stored market data (422 and nothing stored when they do not
    fit), records them, and dispatches them in the background unless an identical
    earlier one answered them."""

    def __init__(
        self,
        user: CurrentUser,
        database: DatabaseDep,
        store: BacktestStoreDep,
        client: BacktestClientDep,
        settings: SettingsDep,
        background: BackgroundTasks,
    ) -> None:
        self._user = user
        self._database = database
        self._store = store
        self._client = client
        self._dispatch_attempts = settings.dispatch_attempts
        self._background = background

    async def start(
        self, strategy: Strategy, params: BacktestParams, sweep: Sweep | None
    ) -> Backtest:
        snapshot = StrategySnapshot.model_validate(
            strategy.model_dump(include=set(StrategySnapshot.model_fields))
        )
        try:
            resolved = ResolvedBacktest.resolve(snapshot, params)
            if sweep is not None:
                check_sweep(sweep, resolved)
            entry = await check_data_for(self._database, resolved)
        except ValidationError as invalid:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                invalid.errors(include_url=False, include_context=False, include_input=False),
            ) from None
        except NoDataForBacktest as missing:
            # The same shape as FastAPI's own validation errors, so clients parse one kind.
            detail = [{"loc": ["body"], "msg": str(missing), "type": "no_market_data"}]
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail) from None
        except ValueError as inconsistent:
            field = "sweep" if str(inconsistent).startswith("sweep") else "parameters"
            detail = [{"loc": ["body", field], "msg": str(inconsistent), "type": "value_error"}]
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail) from None
        input_key = resolved.input_key(entry.version, sweep)
        backtest = await self._store.create(
            self._user.id, snapshot, params, input_key, entry.version, sweep
        )
        if backtest.status is BacktestStatus.PENDING:
            self._background.add_task(
                run_backtest_task, backtest.id, self._store, self._client, self._dispatch_attempts
            )
        return backtest


StarterDep = Annotated[BacktestStarter, Depends()]


@router.post("/{strategy_id}/backtest", status_code=status.HTTP_202_ACCEPTED)
async def start_backtest(
    strategy: OwnedStrategy, params: BacktestParams, starter: StarterDep
) -> Backtest:
    """Record a backtest and hand it to the compute service in the background; answered
    as completed at once, with the stored result marked `cached`, when an identical
    backtest (same rules, parameters, costs, range and market-data version) completed
    before.

    Refused with 422, before anything is stored, when the parameters contradict each
    other or the stored market data cannot serve the symbol, timeframe or range.
    """
    return await starter.start(strategy, params, sweep=None)


@router.post("/{strategy_id}/optimize", status_code=status.HTTP_202_ACCEPTED)
async def start_optimization(
    strategy: OwnedStrategy, request: OptimizeRequest, starter: StarterDep
) -> Backtest:
    """Run the strategy over every combination of a grid of parameter values (at most
    10,000, fewer where `constraint` is false) as one backtest with progress. Once
    completed, `optimization` ranks the combinations by `objective` and carries a
    heatmap matrix, and `result` is the full backtest of the best one. Read, cancel and
    page its trades as any backtest; an identical optimization is answered from the
    stored result, like a backtest.

    Refused with 422, before anything is stored, when the grid names a parameter the
    strategy does not have, a value the rules cannot use, or keeps no combination.
    """
    params = BacktestParams.model_validate(request.model_dump(exclude={"sweep"}))
    return await starter.start(strategy, params, request.sweep)


@router.get("/{strategy_id}/backtests")
async def list_backtests(
    strategy: OwnedStrategy, user: CurrentUser, store: BacktestStoreDep
) -> list[BacktestSummary]:
    return await store.list_for_strategy(user.id, strategy.id)


async def run_backtest_task(
    backtest_id: str,
    store: BacktestStore,
    client: BacktestServiceClient,
    attempts: int,
    first_delay_s: float = FIRST_RETRY_DELAY_S,
) -> None:
    """Hand a pending backtest to the compute service, retrying with exponential backoff
    while it is unreachable. If it stays unreachable the backtest stays pending, with
    the reason in `error`, and BacktestSupervisor dispatches it again later. Safe to
    repeat: the compute service runs one execution per backtest_id. A backtest
    cancelled meanwhile is cancelled there too."""
    delay_s = first_delay_s
    for attempt in range(1, attempts + 1):
        request = await store.run_request(backtest_id)
        if request is None:  # cancelled, or dispatched by someone else meanwhile
            return
        try:
            accepted = await client.start_backtest(request)
        except BacktestServiceRejected as rejected:
            await store.fail_pending(
                backtest_id, f"refused by the compute service: {rejected.detail}"
            )
            return
        except BacktestServiceUnavailable as unavailable:
            logger.warning(
                "dispatch %d/%d of %s failed: %s", attempt, attempts, backtest_id, unavailable
            )
            if attempt < attempts:
                await asyncio.sleep(delay_s)
                delay_s *= 2
            continue
        if not await store.mark_dispatched(backtest_id, accepted.execution_id, accepted.status):
            await _cancel_if_cancelled(backtest_id, accepted.execution_id, store, client)
        return
    await store.note_dispatch_failure(
        backtest_id, "the compute service is unreachable; the backtest will be sent when it is back"
    )


async def _cancel_if_cancelled(
    backtest_id: str, execution_id: str, store: BacktestStore, client: BacktestServiceClient
) -> None:
    state = await store.state_of(backtest_id)
    if state is not None and state["status"] == BacktestStatus.CANCELLED.value:
        try:
            await client.cancel_backtest(execution_id)
        except (BacktestServiceRejected, BacktestServiceUnavailable) as error:
            logger.warning("could not cancel %s on the compute service: %s", execution_id, error)
