"""Delivering finished executions to the backend's `save_result`, until acknowledged.

The worker that ran an execution pushes its final state itself (`api_push`); this makes
sure it arrives when that push did not: the cancels this service makes, and the runs
whose push failed or whose worker died before it. The final state is in the execution
record before delivery starts, so delivery can be retried for as long as it takes: with
exponential backoff while this process lives, from the service's periodic sweep, and
after a restart (the record's `delivered_at` stays empty until the backend answers 2xx).
A refusal (4xx other than 408 and 429) is recorded and retried only after a restart,
when a configuration fix may have cured it.
"""

from __future__ import annotations

import asyncio
import logging

import httpx

from backend_services.services.backtest.execution.api_push import (
    DeliveryVerdict,
    report_headers,
    verdict_of,
)
from backend_services.services.backtest.execution.records import (
    ExecutionNotFound,
    ExecutionRecords,
)
from backend_services.services.backtest.execution.run_metrics import DELIVERY_RETRIES
from shared.contracts.common import utc_now
from shared.contracts.executions import ExecutionReport
from shared.paths import SAVE_RESULT_PATH

logger = logging.getLogger(__name__)


class ResultDelivery:
    def __init__(
        self,
        store: ExecutionRecords,
        http: httpx.AsyncClient,
        first_delay_s: float = 0.5,
        max_delay_s: float = 30.0,
    ) -> None:
        self._store = store
        self._http = http
        self._first_delay_s = first_delay_s
        self._max_delay_s = max_delay_s
        self._tasks: dict[str, asyncio.Task[None]] = {}

    @property
    def pending(self) -> int:
        return len(self._tasks)

    def deliver(self, execution_id: str) -> None:
        """Start delivering, unless a delivery of this execution is already under way."""
        if execution_id not in self._tasks:
            task = asyncio.create_task(self._deliver(execution_id))
            self._tasks[execution_id] = task
            task.add_done_callback(lambda _: self._tasks.pop(execution_id, None))

    async def close(self) -> None:
        for task in list(self._tasks.values()):
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    async def _deliver(self, execution_id: str) -> None:
        delay_s = self._first_delay_s
        while True:
            try:
                execution = await self._store.get(execution_id)
                response = await self._http.post(
                    SAVE_RESULT_PATH,
                    content=ExecutionReport.of(execution).model_dump_json(),
                    headers=report_headers(execution.request_id),
                )
                verdict = verdict_of(response)
                if verdict is DeliveryVerdict.DELIVERED:
                    await self._store.mark_delivered(execution_id, utc_now())
                    return
                if verdict is DeliveryVerdict.REFUSED:
                    refusal = f"{response.status_code}: {response.text[:200]}"
                    logger.error("backend refused %s (%s)", execution_id, refusal)
                    await self._store.mark_refused(execution_id, refusal)
                    return
                logger.warning("backend answered %s for %s", response.status_code, execution_id)
            except ExecutionNotFound:  # deleted meanwhile (its backtest was purged)
                return
            except (httpx.HTTPError, OSError) as error:
                logger.warning("delivering %s failed: %r", execution_id, error)
            except Exception:
                logger.exception("delivering %s failed", execution_id)
            await asyncio.sleep(delay_s)
            delay_s = min(delay_s * 2, self._max_delay_s)
            DELIVERY_RETRIES.inc()
