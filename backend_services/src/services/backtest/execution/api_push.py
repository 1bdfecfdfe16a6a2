"""A worker's line to the API: what happens to a run is pushed as it happens.

- Live changes (claimed, progress) go to `POST /api/backtest/events` from a thread of
  their own, newest first: the run never waits for them, and of several changes of one
  execution made while a push was under way only the newest is sent. A push that fails
  is dropped: the next change, or the final state, carries everything.
- The final state goes to `POST /api/backtest/save_result` at once, from the outcome
  the run has in hand (nothing is read back). It was stored in the execution record
  first, so when this push fails the service's delivery (`delivery.ResultDelivery`,
  with its retries and sweeps) takes over.
"""

from __future__ import annotations

import logging
import threading
from enum import Enum

import httpx

from shared.contracts.executions import ExecutionReport, ExecutionUpdate
from shared.paths import EVENTS_PATH, SAVE_RESULT_PATH
from shared.signing import ServiceSignature
from shared.web.request_context import REQUEST_ID_HEADER

__all__ = ["ApiPush", "DeliveryVerdict", "report_headers", "verdict_of"]

logger = logging.getLogger(__name__)

PUSH_TIMEOUT = httpx.Timeout(10.0, connect=2.0)


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


class ApiPush:
    def __init__(self, api_url: str, secret: str) -> None:
        self._http = httpx.Client(
            base_url=api_url, auth=ServiceSignature(secret), timeout=PUSH_TIMEOUT
        )
        self._waiting: dict[str, ExecutionUpdate] = {}
        self._wake = threading.Condition()
        self._thread = threading.Thread(target=self._send_updates, name="api-push", daemon=True)
        self._thread.start()

    def update(self, update: ExecutionUpdate) -> None:
        """Push a live change in the background, replacing one of the same execution
        not sent yet."""
        with self._wake:
            self._waiting[update.execution_id] = update
            self._wake.notify()

    def deliver(self, report: ExecutionReport, request_id: str | None) -> DeliveryVerdict:
        """Push a final state now; RETRY when the API could not be reached or failed."""
        try:
            response = self._http.post(
                SAVE_RESULT_PATH,
                content=report.model_dump_json(),
                headers=report_headers(request_id),
            )
        except httpx.HTTPError as error:
            logger.warning("pushing the final state of %s failed: %r", report.execution_id, error)
            return DeliveryVerdict.RETRY
        verdict = verdict_of(response)
        if verdict is not DeliveryVerdict.DELIVERED:
            logger.warning(
                "the API answered %s to the final state of %s",
                response.status_code,
                report.execution_id,
            )
        return verdict

    def _send_updates(self) -> None:
        while True:
            with self._wake:
                while not self._waiting:
                    self._wake.wait()
                _, update = self._waiting.popitem()
            try:
                self._http.post(
                    EVENTS_PATH,
                    content=update.model_dump_json(),
                    headers={"Content-Type": "application/json"},
                )
            except httpx.HTTPError as error:
                logger.info("pushing a change of %s failed: %r", update.execution_id, error)
