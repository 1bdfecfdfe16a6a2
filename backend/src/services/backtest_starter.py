"""BacktestStarter: a member's backtest or optimization, checked and recorded."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError
from pymongo.asynchronous.database import AsyncDatabase

from backend.schemas import Backtest, Strategy
from backend.services.market_checks import check_data_for, range_note
from backend.services.portfolio_checks import check_portfolio
from backend.stores.backtests import BacktestStore
from shared.contracts.backtests import BacktestParams, ResolvedBacktest
from shared.contracts.common import InconsistentRequest
from shared.contracts.executions import RunBacktestRequest
from shared.contracts.strategies import StrategySnapshot
from shared.contracts.sweeps import Sweep, check_sweep
from shared.contracts.validation import ValidatedSweep, Validation, check_windows
from shared.errors import InvalidInput
from shared.mongo import Document
from shared.web.request_context import request_id

__all__ = ["BacktestStarter", "StartedBacktest"]


@dataclass(frozen=True, slots=True)
class StartedBacktest:
    """A backtest just recorded, and what to hand the compute service if it is pending
    (built from what was recorded, so its dispatch reads nothing back)."""

    backtest: Backtest
    run_request: RunBacktestRequest


class BacktestStarter:
    """Checks a backtest against the strategy and the stored market data (InvalidInput,
    and nothing stored, when they do not fit) and records it: pending, to be dispatched,
    or completed at once with the result of an identical earlier one."""

    def __init__(self, user_id: str, database: AsyncDatabase[Document], store: BacktestStore):
        self._user_id = user_id
        self._database = database
        self._store = store

    async def start(
        self,
        strategy: Strategy,
        params: BacktestParams,
        sweep: Sweep | None,
        validation: Validation | None = None,
    ) -> StartedBacktest:
        snapshot = StrategySnapshot.model_validate(
            strategy.model_dump(include=set(StrategySnapshot.model_fields))
        )
        try:
            resolved = ResolvedBacktest.resolve(snapshot, params)
            if sweep is not None:
                check_sweep(sweep, resolved)
                if validation is not None:
                    check_windows(validation, sweep, resolved)
        except ValidationError as invalid:
            raise InvalidInput(
                invalid.errors(include_url=False, include_context=False, include_input=False)
            ) from None
        except InconsistentRequest as inconsistent:
            raise InvalidInput.at(inconsistent.field, str(inconsistent)) from None
        if params.portfolio is not None:
            basket = await check_portfolio(self._database, params, resolved, sweep)
            input_key, data_version, notes = basket.input_key, basket.data_version, basket.notes
        else:
            entry = await check_data_for(self._database, resolved, sweep)
            work = (
                ValidatedSweep(sweep=sweep, validation=validation)
                if sweep and validation
                else sweep
            )
            input_key, data_version = resolved.input_key(entry.version, work), entry.version
            notes = [note] if (note := range_note(resolved, entry)) else []
        backtest = await self._store.create(
            self._user_id,
            snapshot,
            params,
            input_key,
            data_version,
            sweep,
            notes,
            request_id.get(),
            validation,
        )
        run_request = RunBacktestRequest(
            backtest_id=backtest.id,
            user_id=self._user_id,
            strategy=snapshot,
            params=params,
            data_version=None if params.portfolio is not None else data_version,
            sweep=sweep,
            request_id=request_id.get(),
            validation=validation,
        )
        return StartedBacktest(backtest, run_request)
