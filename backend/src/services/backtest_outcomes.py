"""How a backtest ends, or is removed, from the API's side: a member's cancel, a
member's purge, and the compute service's final state arriving at `save_result`.

Each is a short conversation between the API's stores and the compute service, kept
here so the routes only translate HTTP; every final state stored reaches the
backtest's subscribers through the store's listener, the progress hub.
"""

from __future__ import annotations

from backend.schemas import Backtest, SaveResultAck
from backend.services.backtest_client import BacktestServiceClient, BacktestServiceRejected
from backend.services.reconcile import reconcile
from backend.stores.backtests import BacktestStore
from backend.stores.rankings import RankingStore
from shared.contracts.executions import ExecutionReport
from shared.contracts.lifecycle import BacktestStatus
from shared.errors import Conflict, NotFound

__all__ = ["BacktestOutcomes"]


class BacktestOutcomes:
    def __init__(
        self, store: BacktestStore, rankings: RankingStore, client: BacktestServiceClient
    ) -> None:
        self._store = store
        self._rankings = rankings
        self._client = client

    async def cancel(self, user_id: str, backtest: Backtest) -> Backtest:
        """Cancel a backtest that has not finished: at once while the compute service
        does not have it yet, else there first. Conflict once it has finished."""
        if backtest.status is BacktestStatus.PENDING:
            cancelled = await self._store.cancel_pending(backtest.id)
            if cancelled is not None:
                return cancelled
            backtest = await self._store.get(user_id, backtest.id) or backtest
        if not backtest.status.is_live or backtest.execution_id is None:
            raise Conflict(f"backtest is already {backtest.status.value}")
        try:
            execution = await self._client.cancel_backtest(backtest.execution_id)
        except BacktestServiceRejected as rejected:
            if rejected.status_code != Conflict.status_code:
                raise rejected.as_domain_error() from None
            await reconcile(self._store, self._client, backtest.id, backtest.execution_id)
            raise Conflict("backtest has already finished") from None
        final = await self._store.record_final(ExecutionReport.of(execution))
        return final or await self._store.get(user_id, backtest.id) or backtest

    async def purge(self, user_id: str, backtest: Backtest) -> None:
        """Delete a finished backtest, with its trades and ranking unless another
        backtest answered from it still reads them. Conflict while it runs (read from
        the store: a copy this process holds may predate a final state stored elsewhere)."""
        if not backtest.status.is_final:
            backtest = await self._store.get(user_id, backtest.id) or backtest
        if not backtest.status.is_final:
            raise Conflict(f"backtest is {backtest.status.value}: cancel it before deleting it")
        store = self._store
        source = await store.trades_execution(user_id, backtest.id) or backtest.execution_id
        if source is not None and not await store.execution_in_use(source, besides=backtest.id):
            # The compute service's part first: if it cannot be reached now, the backtest
            # stays, and deleting it again finishes the job.
            try:
                await self._client.remove_execution(source)
            except BacktestServiceRejected as rejected:
                if rejected.status_code != NotFound.status_code:
                    raise rejected.as_domain_error() from None
            await self._rankings.delete(source)
        if not await store.delete_final(user_id, backtest.id):
            raise NotFound("backtest not found")

    async def save_result(self, report: ExecutionReport) -> SaveResultAck:
        """Store an execution's final state once; a repeat, or a report for a backtest
        already final, changes nothing. NotFound for an unknown backtest, Conflict for
        one that belongs to another execution."""
        if await self._store.record_final(report) is not None:
            return SaveResultAck(stored=True)
        state = await self._store.state_of(report.backtest_id)
        if state is None:
            raise NotFound("backtest not found")
        if state.execution_id not in (None, report.execution_id):
            raise Conflict("backtest belongs to another execution")
        return SaveResultAck(stored=False)
