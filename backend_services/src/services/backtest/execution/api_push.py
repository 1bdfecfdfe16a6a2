"""A worker's line to the API: what happens to a run is pushed as it happens.

Both go from a thread of their own, so a run never waits for them and its worker takes
the next run at once:
- Live changes (claimed, progress) go to `POST /api/backtest/events` once they are
  HOLD_S old, and only the newest of an execution's: a run shorter than that is told by
  its final state alone (which replaces any change not sent yet), so a small backtest
  costs the API one call, not three. A push that fails is dropped: the next change, or
  the final state, carries everything.
- Final states go to `POST /api/backtest/save_result` before any live change, from the
  outcome the run had in hand (nothing is read back, the result sent packed as it was
  stored), and once acknowledged the run's `on_delivered` has it noted on the record
  (`delivered_marks`). Each was stored in the execution record first,
  so when its push fails the service's delivery (`delivery.ResultDelivery`, with its
  retries and sweeps) takes over.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

import httpx

from shared.contracts.executions import ExecutionReport, ExecutionUpdate
from shared.paths import EVENTS_PATH, SAVE_RESULT_PATH
from shared.signing import ServiceSignature
from shared.web.request_context import REQUEST_ID_HEADER

__all__ = ["ApiPush", "DeliveryVerdict", "report_headers", "verdict_of"]

logger = logging.getLogger(__name__)

PUSH_TIMEOUT = httpx.Timeout(10.0, connect=2.0)
HOLD_S = 0.05


class DeliveryVerdict(Enum):
    DELIVERED = "delivered"
    REFUSED = "refused"  # a 4xx other than 408 and 429: retrying will not help
    RETRY = "retry"


def verdict_of(response: httpx.Response) -> DeliveryVerdict:
    """What the API's answer to a delivered final state means for the delivery."""
    if response.is_success:
        return DeliveryVerdict.DELIVERED
    if response.status_code < 500 and response.status_code not in (408, 429):
        return DeliveryVerdict.REFUSED
    return DeliveryVerdict.RETRY


def report_headers(request_id: str | None) -> dict[str, str]:
    """A delivery's headers: the API's log line of it names the member's request."""
    headers = {"Content-Type": "application/json"}
    if request_id:
        headers[REQUEST_ID_HEADER] = request_id
    return headers


@dataclass(frozen=True, slots=True)
class _Final:
    report: ExecutionReport
    request_id: str | None
    on_delivered: Callable[[], None]


class ApiPush:
    def __init__(self, api_url: str, secret: str) -> None:
        self._http = httpx.Client(
            base_url=api_url, auth=ServiceSignature(secret), timeout=PUSH_TIMEOUT
        )
        self._updates: dict[str, tuple[ExecutionUpdate, float]] = {}
        self._finals: deque[_Final] = deque()
        self._wake = threading.Condition()
        self._thread = threading.Thread(target=self._send, name="api-push", daemon=True)
        self._thread.start()

    def update(self, update: ExecutionUpdate) -> None:
        """Push a live change, replacing one of the same execution not sent yet."""
        with self._wake:
            held = self._updates.get(update.execution_id)
            due = held[1] if held else time.monotonic() + HOLD_S
            self._updates[update.execution_id] = (update, due)
            self._wake.notify()

    def deliver(
        self, report: ExecutionReport, request_id: str | None, on_delivered: Callable[[], None]
    ) -> None:
        """Push a stored final state; `on_delivered` runs once the API acknowledged it."""
        with self._wake:
            self._updates.pop(report.execution_id, None)
            self._finals.append(_Final(report, request_id, on_delivered))
            self._wake.notify()

    def _send(self) -> None:
        while True:
            with self._wake:
                final, update = self._next()
            try:
                if final is not None:
                    self._send_final(final)
                elif update is not None:
                    self._send_update(update)
            except Exception:  # never let the thread die: what it had is the sweep's
                logger.exception("pushing to the API failed")

    def _next(self) -> tuple[_Final | None, ExecutionUpdate | None]:
        """The next final state, or else the next live change that is due, waiting for
        one (called holding the lock)."""
        while True:
            if self._finals:
                return self._finals.popleft(), None
            now = time.monotonic()
            due = [key for key, (_, due_at) in self._updates.items() if due_at <= now]
            if due:
                return None, self._updates.pop(due[0])[0]
            soonest = min((due_at for _, due_at in self._updates.values()), default=None)
            self._wake.wait(None if soonest is None else soonest - now)

    def _send_final(self, final: _Final) -> None:
        execution_id = final.report.execution_id
        try:
            response = self._http.post(
                SAVE_RESULT_PATH,
                content=final.report.model_dump_json(),
                headers=report_headers(final.request_id),
            )
        except httpx.HTTPError as error:
            logger.warning("pushing the final state of %s failed: %r", execution_id, error)
            return
        if verdict_of(response) is not DeliveryVerdict.DELIVERED:
            logger.warning(
                "the API answered %s to the final state of %s", response.status_code, execution_id
            )
            return
        try:
            final.on_delivered()
        except Exception:
            logger.exception("noting the delivery of %s failed", execution_id)

    def _send_update(self, update: ExecutionUpdate) -> None:
        try:
            response = self._http.post(
                EVENTS_PATH,
                content=update.model_dump_json(),
                headers={"Content-Type": "application/json"},
            )
        except httpx.HTTPError as error:
            logger.info("pushing a change of %s failed: %r", update.execution_id, error)
            return
        if not response.is_success:  # a wrong API_SERVICE_URL or SERVICE_SECRET, say
            logger.warning(
                "the API answered %s to a change of %s", response.status_code, update.execution_id
            )
