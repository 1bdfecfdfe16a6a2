"""A run's hold on its execution record while it works: the heartbeat that keeps it
alive and stores its progress, which is pushed to the API at a bounded rate; the
heartbeat notices when the run was cancelled or given up on (the record no longer
running under its run id)."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType

from pymongo.errors import ConnectionFailure

from backend_services.services.backtest.execution.records import RunRecord

__all__ = ["ExecutionCancelled", "Heartbeat", "ProgressRecorder", "worker_name"]

logger = logging.getLogger(__name__)

# Each push is a signed call, and each signed call a nonce stored by the API.
PUSH_INTERVAL_S = 0.25
# A run longer than this asks its record whether it was cancelled this often, so a
# cancel stops it within a fraction of a second (the heartbeat notices it too, later).
CANCEL_CHECK_INTERVAL_S = 0.1


class ExecutionCancelled(Exception):
    """The record stopped being `running` under this run while the work was under way."""


def worker_name() -> str:
    """host:pid of this process, written on the runs it claims."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Heartbeat:
    """A thread refreshing the record's heartbeat, with the run's progress, every
    `interval_s`; sets `cancelled` once the record is no longer running under this run."""

    def __init__(self, record: RunRecord, interval_s: float):
        self.record = record
        self.cancelled = threading.Event()
        self.progress = 0.0  # raised by the run's ProgressRecorder, stored with each beat
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
                still_running = self.record.beat(self.progress)
            except ConnectionFailure as error:
                logger.warning("heartbeat missed: %r", error)
                continue
            if not still_running:
                self.cancelled.set()
                return


class ProgressRecorder:
    """A run's progress: a never-decreasing percentage pushed to the API at most every
    PUSH_INTERVAL_S (`push`) and stored by the heartbeat with its next beat, so progress
    costs the database no write of its own. Raises ExecutionCancelled once the run was
    cancelled, which a report asks the record at most every CANCEL_CHECK_INTERVAL_S."""

    def __init__(self, heartbeat: Heartbeat, push: Callable[[float], None] | None = None) -> None:
        self._heartbeat = heartbeat
        self._push = push
        self._last_push = 0.0
        self._last_check = time.monotonic()

    def check(self) -> None:
        """Raise ExecutionCancelled once the run was cancelled."""
        if self._heartbeat.cancelled.is_set():
            raise ExecutionCancelled(self._heartbeat.record.execution_id)

    def report(self, percent: float) -> None:
        self.check()
        now = time.monotonic()
        if now - self._last_check >= CANCEL_CHECK_INTERVAL_S:
            self._last_check = now
            self._ask_the_record()
        percent = round(min(percent, 99.0), 1)
        if percent <= self._heartbeat.progress:
            return
        self._heartbeat.progress = percent
        if self._push is None or now - self._last_push < PUSH_INTERVAL_S:
            return
        self._last_push = now
        self._push(percent)

    def _ask_the_record(self) -> None:
        try:
            still_running = self._heartbeat.record.still_running()
        except ConnectionFailure as error:
            logger.warning("cancel check skipped: %r", error)
            return
        if not still_running:
            self._heartbeat.cancelled.set()
            self.check()
