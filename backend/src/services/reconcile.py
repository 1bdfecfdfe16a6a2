"""Bringing a backtest in line with its execution on the compute service.

Used by BacktestSupervisor when a live backtest has not been heard of for a while (a
lost callback, a compute service restarted): a final state the callback has not brought
yet is stored as if it had, a live one is noted as alive (asked about again only after
RECONCILE_AFTER_S), and an execution the compute service no longer knows is dispatched
again. Members' reads never wait on this: they show the state pushed to the API.
"""

from __future__ import annotations

import logging

from backend.services.backtest_client import (
    BacktestServiceClient,
    BacktestServiceRejected,
    BacktestServiceUnavailable,
)
from backend.stores.backtests import BacktestStore
from shared.contracts.executions import ExecutionReport

logger = logging.getLogger(__name__)


async def reconcile(
    store: BacktestStore, client: BacktestServiceClient, backtest_id: str, execution_id: str
) -> None:
    try:
        execution = await client.get_backtest_status(execution_id)
    except BacktestServiceUnavailable as error:
        logger.info("status of %s unavailable: %s", backtest_id, error)
        return
    except BacktestServiceRejected as rejected:
        if rejected.status_code == 404:
            logger.warning(
                "execution %s of %s is unknown; dispatching again", execution_id, backtest_id
            )
            await store.redispatch(
                backtest_id, execution_id, "the compute service lost the run; sending it again"
            )
        return
    if execution.status.is_final:
        await store.record_final(ExecutionReport.of(execution))
    else:
        await store.touch(backtest_id)
