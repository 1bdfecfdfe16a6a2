"""A worker's notes that the API acknowledged the final states it pushed, written to
the execution records in batches.

Written one by one, each acknowledgement was one of the five MongoDB commands a small
backtest cost the compute service. Here the acknowledgements of the last WRITE_EVERY_S
are written by one command (at once when MOST_AT_ONCE are waiting), from a thread of
their own. A note is only ever late, never wrong: the service delivers a final state
again only once a sweep found it undelivered and the next one still does
(`SUPERVISE_INTERVAL_S` apart, longer than WRITE_EVERY_S), and the API answers a repeat
as already stored. A note lost with its worker, or to a MongoDB outage, is such a
repeat.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime

from pymongo import UpdateOne
from pymongo.collection import Collection
from pymongo.errors import PyMongoError

from backend_services.services.backtest.execution.records import delivered
from shared.mongo import Document

__all__ = ["MOST_AT_ONCE", "WRITE_EVERY_S", "DeliveredMarks"]

logger = logging.getLogger(__name__)

WRITE_EVERY_S = 0.25
MOST_AT_ONCE = 100


class DeliveredMarks:
    def __init__(
        self,
        executions: Collection[Document],
        every_s: float = WRITE_EVERY_S,
        most_at_once: int = MOST_AT_ONCE,
    ) -> None:
        self._executions = executions
        self._every_s = every_s
        self._most_at_once = most_at_once
        self._pending: list[tuple[str, datetime]] = []
        self._first_noted = 0.0
        self._wake = threading.Condition()
        self._thread = threading.Thread(target=self._write, name="delivered-marks", daemon=True)
        self._thread.start()

    def note(self, execution_id: str, at: datetime) -> None:
        """The API acknowledged the execution's final state `at`."""
        with self._wake:
            if not self._pending:
                self._first_noted = time.monotonic()
            self._pending.append((execution_id, at))
            self._wake.notify()

    def _write(self) -> None:
        while True:
            with self._wake:
                while (wait_s := self._wait_s()) != 0.0:
                    self._wake.wait(wait_s)
                batch, self._pending = self._pending, []
            marks = [UpdateOne({"_id": execution_id}, delivered(at)) for execution_id, at in batch]
            try:
                self._executions.bulk_write(marks, ordered=False)
            except PyMongoError as error:
                logger.warning(
                    "noting %d deliveries failed; the service's sweep delivers them again: %r",
                    len(batch),
                    error,
                )
            except Exception:  # never let the thread die: the notes would pile up
                logger.exception("noting %d deliveries failed", len(batch))

    def _wait_s(self) -> float | None:
        """How long until the next batch is due: 0 when it is, None while none is
        pending (called holding the lock)."""
        if not self._pending:
            return None
        if len(self._pending) >= self._most_at_once:
            return 0.0
        return max(0.0, self._first_noted + self._every_s - time.monotonic())
