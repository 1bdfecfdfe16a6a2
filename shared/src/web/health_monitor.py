"""Dependency checks run in the background, so health probes answer from memory.

A health endpoint that pings MongoDB on every call measures MongoDB's queue, adds load
exactly when the system is busiest, and times out with it. Instead each dependency is
checked in a loop of its own, every `interval_s`, and a probe reports the latest
outcome: its latency is the event loop's.

A dependency is `up` when its latest check answered within `slow_s`; `slow` when it
answered later, or a check has been waiting that long, or failed without an answer (a
timeout, a connection that could not be made), and it answered within the last
`down_after_s`; `down` when a check says it cannot serve (raises DependencyDown: a
refused write) or nothing has answered for `down_after_s`. A slow dependency is a busy
one: the service is still ready. A busy MongoDB under load answers pings in seconds, or
times a client out; taking the service out of a load balancer for that would turn load
into an outage.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel

from shared.contracts.common import utc_now

__all__ = ["Check", "CheckOutcome", "DependencyDown", "DependencyMonitor", "DependencyState"]

logger = logging.getLogger(__name__)

Check = Callable[[], Awaitable[Any]]


class DependencyDown(Exception):
    """Raised by a check whose dependency answered that it cannot serve; `report` is
    what it answered, kept as the outcome's detail (else the message is)."""

    def __init__(self, message: str, report: Any = None) -> None:
        super().__init__(message)
        self.report = report


class DependencyState(StrEnum):
    UP = "up"
    SLOW = "slow"
    DOWN = "down"


class CheckOutcome(BaseModel):
    state: DependencyState
    detail: Any = None
    checked_at: datetime | None = None
    latency_ms: float | None = None

    @property
    def ok(self) -> bool:
        """Answering, if slowly."""
        return self.state is not DependencyState.DOWN


class _Watch:
    """One dependency's latest answer and the check under way, if any."""

    def __init__(self) -> None:
        self.outcome = CheckOutcome(state=DependencyState.DOWN, detail="not checked yet")
        self.last_success: float | None = None
        self.started: float | None = None


class DependencyMonitor:
    def __init__(
        self,
        checks: dict[str, Check],
        interval_s: float = 1.0,
        slow_s: float = 1.0,
        down_after_s: float = 20.0,
    ) -> None:
        self._checks = checks
        self._interval_s = interval_s
        self._slow_s = slow_s
        self._down_after_s = down_after_s
        self._watches = {name: _Watch() for name in checks}

    def outcome(self, name: str) -> CheckOutcome:
        """The dependency's state now: its latest answer, aged by any check still
        waiting for one."""
        watch = self._watches[name]
        outcome = watch.outcome
        now = time.monotonic()
        if outcome.state is DependencyState.DOWN:
            return outcome
        if watch.last_success is None:
            return outcome.model_copy(update={"state": DependencyState.DOWN})
        if now - watch.last_success > self._down_after_s:
            silent_s = now - watch.last_success
            return outcome.model_copy(
                update={"state": DependencyState.DOWN, "detail": f"no answer for {silent_s:.0f} s"}
            )
        waiting = watch.started is not None and now - watch.started > self._slow_s
        if waiting and outcome.state is DependencyState.UP:
            return outcome.model_copy(update={"state": DependencyState.SLOW})
        return outcome

    async def check_all(self) -> None:
        """Check every dependency once (at start-up, before the first probe)."""
        await asyncio.gather(*(self._check(name) for name in self._checks))

    async def run(self) -> None:
        """Check each dependency every `interval_s`, each in its own loop, until cancelled:
        a dependency that hangs delays no other's checks."""
        await asyncio.gather(*(self._loop(name) for name in self._checks))

    async def _loop(self, name: str) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            try:
                await self._check(name)
            except Exception:
                logger.exception("the %s check failed unexpectedly", name)

    async def _check(self, name: str) -> None:
        watch = self._watches[name]
        watch.started = started = time.monotonic()
        try:
            # Bounded so a check that never returns still ends: by then it is down.
            detail = await asyncio.wait_for(self._checks[name](), self._down_after_s)
        except DependencyDown as error:
            detail = str(error) if error.report is None else error.report
            watch.outcome = CheckOutcome(
                state=DependencyState.DOWN, detail=detail, checked_at=utc_now()
            )
        except Exception as error:  # no answer: slow until it lasts down_after_s
            watch.outcome = CheckOutcome(
                state=DependencyState.SLOW, detail=repr(error), checked_at=utc_now()
            )
        else:
            finished = time.monotonic()
            watch.last_success = finished
            latency_s = finished - started
            state = DependencyState.SLOW if latency_s > self._slow_s else DependencyState.UP
            watch.outcome = CheckOutcome(
                state=state, detail=detail, checked_at=utc_now(), latency_ms=latency_s * 1e3
            )
        finally:
            watch.started = None
