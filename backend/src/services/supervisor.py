"""BacktestSupervisor: nothing the backend accepted is left behind.

Every sweep it dispatches again the backtests still pending (the compute service was
down, or the backend restarted before handing them over) and reconciles queued and
running backtests not heard of for `reconcile_after_s` (a lost or late callback).
Both are safe to repeat, so several backend instances may sweep at once.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from backend.services.backtest_client import BacktestServiceClient
from backend.services.dispatch import dispatch_backtest
from backend.services.reconcile import reconcile
from backend.stores.backtests import BacktestStore
from shared.contracts.common import utc_now

logger = logging.getLogger(__name__)

BATCH = 500


class BacktestSupervisor:
    def __init__(
        self,
        store: BacktestStore,
        client: BacktestServiceClient,
        interval_s: float,
        reconcile_after_s: float,
    ) -> None:
        self._store = store
        self._client = client
        self._interval_s = interval_s
        self._reconcile_after = timedelta(seconds=reconcile_after_s)

    async def run(self) -> None:
        """Sweep at start-up and then every `interval_s`, until cancelled."""
        while True:
            try:
                await self.sweep()
            except Exception:
                logger.exception("supervision sweep failed; trying again next time")
            await asyncio.sleep(self._interval_s)

    async def sweep(self) -> None:
        now = utc_now()
        pending = await self._store.stale_pending(now - timedelta(seconds=self._interval_s), BATCH)
        for backtest_id in pending:
            await dispatch_backtest(backtest_id, self._store, self._client, attempts=1)
        for backtest_id, execution_id in await self._store.stale_live(
            now - self._reconcile_after, BATCH
        ):
            await reconcile(self._store, self._client, backtest_id, execution_id)
