"""Handing a pending backtest to the compute service, with retries; used by the
`run_backtest_task()` background task and by BacktestSupervisor."""

from __future__ import annotations

import asyncio
import logging

from backend.services.backtest_client import (
    BacktestServiceClient,
    BacktestServiceRejected,
    BacktestServiceUnavailable,
)
from backend.stores.backtests import BacktestStore
from shared.contracts.executions import RunBacktestRequest
from shared.contracts.lifecycle import BacktestStatus
from shared.errors import Conflict

__all__ = ["FIRST_RETRY_DELAY_S", "RECORD_HANDOVER_AFTER_S", "dispatch_backtest", "record_after_s"]

logger = logging.getLogger(__name__)

FIRST_RETRY_DELAY_S = 0.5
# A new backtest's hand-over is recorded this long after it, unless its final state came
# first: well within the hub's READ_FROM_MEMORY_S, and at most half the supervisor's
# interval (`record_after_s`), so the supervisor does not hand it over again meanwhile.
RECORD_HANDOVER_AFTER_S = 1.0


def record_after_s(supervise_interval_s: float) -> float:
    """How long a new backtest's hand-over waits to be recorded."""
    return min(RECORD_HANDOVER_AFTER_S, supervise_interval_s / 2)


async def dispatch_backtest(
    backtest_id: str,
    store: BacktestStore,
    client: BacktestServiceClient,
    attempts: int,
    first_delay_s: float = FIRST_RETRY_DELAY_S,
    run_request: RunBacktestRequest | None = None,
    record_after_s: float = 0.0,
) -> None:
    """Hand a pending backtest to the compute service, retrying with exponential backoff
    while it is unreachable. If it stays unreachable the backtest stays pending, with
    the reason in `error`, and BacktestSupervisor dispatches it again later. Safe to
    repeat: the compute service runs one execution per backtest_id. A backtest
    cancelled meanwhile is cancelled there too. `run_request`, when given, is sent on the
    first attempt instead of being read (the backtest was recorded a moment ago).
    `record_after_s`: how long the hand-over waits to be recorded (see
    RECORD_HANDOVER_AFTER_S)."""
    delay_s = first_delay_s
    for attempt in range(1, attempts + 1):
        request = run_request if attempt == 1 and run_request else None
        request = request or await store.run_request(backtest_id)
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
        await _record_handover(backtest_id, accepted.execution_id, store, client, record_after_s)
        return
    await store.note_dispatch_failure(
        backtest_id, "the compute service is unreachable; the backtest will be sent when it is back"
    )


async def _record_handover(
    backtest_id: str,
    execution_id: str,
    store: BacktestStore,
    client: BacktestServiceClient,
    after_s: float,
) -> None:
    """Record the hand-over (queued, with the execution), `after_s` from now: a run that
    ends sooner is told by its final state alone, which names its execution too, so a
    small backtest costs no write here. Meanwhile this process's reads and cancels know
    the execution from the hub. After a restart, or on another instance, the backtest
    reads pending until the supervisor hands it over again, which the compute service
    answers with the execution it has. A backtest cancelled before the hand-over was
    recorded is cancelled there too."""
    ended = await store.ended_within(backtest_id, 0.0)
    if after_s and ended is None:
        store.note_dispatched(backtest_id, execution_id)
        # Woken at once by a final state: a cancel here meanwhile is passed on now.
        ended = await store.ended_within(backtest_id, after_s)
    if ended not in (None, BacktestStatus.CANCELLED):
        return  # its final state names its execution
    # Cancelled meanwhile, the record is linked to its execution all the same (so a
    # purge removes it there too), and the execution cancelled there.
    if not await store.mark_dispatched(backtest_id, execution_id):
        await _cancel_if_cancelled(backtest_id, execution_id, store, client)


async def _cancel_if_cancelled(
    backtest_id: str, execution_id: str, store: BacktestStore, client: BacktestServiceClient
) -> None:
    state = await store.state_of(backtest_id)
    if state is not None and state.status is BacktestStatus.CANCELLED:
        try:
            await client.cancel_backtest(execution_id)
        except (BacktestServiceRejected, BacktestServiceUnavailable) as error:
            if (
                isinstance(error, BacktestServiceRejected)
                and error.status_code == Conflict.status_code
            ):
                # Ended there already: cancelled through the execution this process held.
                logger.info("%s had already ended on the compute service", execution_id)
            else:
                logger.warning(
                    "could not cancel %s on the compute service: %s", execution_id, error
                )
