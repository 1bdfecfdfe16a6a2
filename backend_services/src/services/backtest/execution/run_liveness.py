"""A run's hold on its execution record while it works: the heartbeat that keeps it
alive, and progress written at a bounded rate; both notice when the run was cancelled
or given up on (the record no longer running under its run id)."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from types import TracebackType

from pymongo.errors import ConnectionFailure

from backend_services.services.backtest.execution.records import RunRecord

__all__ = ["ExecutionCancelled", "Heartbeat", "ProgressRecorder", "worker_name"]

logger = logging.getLogger(__name__)

PROGRESS_WRITE_INTERVAL_S = 0.25


class ExecutionCancelled(Exception):
    """The record stopped being `running` under this run while the work was under way."""


def worker_name() -> str:
    """host:pid of this process, written on the runs it claims."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Heartbeat:
    """A thread refreshing the record's heartbeat every `interval_s`; sets `cancelled`
    once the record is no longer running under this run."""

    def __init__(self, record: RunRecord, interval_s: float):
        self.cancelled = threading.Event()
        self._record = record
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                still_running = self._record.beat()
            except ConnectionFailure as error:
                logger.warning("heartbeat missed: %r", error)
                continue
            if not still_running:
                self.cancelled.set()
                return


class ProgressRecorder:
    """Writes a never-decreasing progress percentage to the record, at most every
    PROGRESS_WRITE_INTERVAL_S, and raises ExecutionCancelled once the run was cancelled.
    A write that fails for want of MongoDB is skipped: progress is not worth stopping for.
    """

    def __init__(self, record: RunRecord, cancelled: threading.Event) -> None:
        self._record = record
        self._cancelled = cancelled
        self._last_write = 0.0

    def check(self) -> None:
        """Raise ExecutionCancelled once the run was cancelled."""
        if self._cancelled.is_set():
            raise ExecutionCancelled(self._record.execution_id)

    def report(self, percent: float) -> None:
        self.check()
        now = time.monotonic()
        if now - self._last_write < PROGRESS_WRITE_INTERVAL_S:
            return
        self._last_write = now
        try:
            still_running = self._record.record_progress(round(min(percent, 99.0), 1))
        except ConnectionFailure as error:
            logger.warning("progress not recorded: %r", error)
            return
        if not still_running:
            raise ExecutionCancelled(self._record.execution_id)
