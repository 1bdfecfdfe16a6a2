"""Dependency checks run in the background, so `/health` answers from memory.

A health endpoint that pings MongoDB on every call measures MongoDB's queue, adds load
exactly when the system is busiest, and times out with it. Instead each service checks
its dependencies every `interval_s` (each check bounded by `timeout_s`) and `/health`
reports the latest outcome with its time: its latency is the event loop's.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from shared.contracts.common import utc_now

__all__ = ["Check", "CheckOutcome", "DependencyMonitor"]

logger = logging.getLogger(__name__)

Check = Callable[[], Awaitable[Any]]


class CheckOutcome(BaseModel):
    ok: bool
    detail: Any = None
    checked_at: datetime | None = None


class DependencyMonitor:
    def __init__(
        self, checks: dict[str, Check], interval_s: float = 1.0, timeout_s: float = 2.0
    ) -> None:
        self._checks = checks
        self._interval_s = interval_s
        self._timeout_s = timeout_s
        self._outcomes = {name: CheckOutcome(ok=False) for name in checks}

    def outcome(self, name: str) -> CheckOutcome:
        return self._outcomes[name]

    async def check_all(self) -> None:
        names = list(self._checks)
        results = await asyncio.gather(
            *(asyncio.wait_for(self._checks[name](), self._timeout_s) for name in names),
            return_exceptions=True,
        )
        now = utc_now()
        for name, result in zip(names, results, strict=True):
            if isinstance(result, BaseException):
                self._outcomes[name] = CheckOutcome(ok=False, detail=repr(result), checked_at=now)
            else:
                self._outcomes[name] = CheckOutcome(ok=True, detail=result, checked_at=now)

    async def run(self) -> None:
        """Check every `interval_s` until cancelled."""
        while True:
            await asyncio.sleep(self._interval_s)
            try:
                await self.check_all()
            except Exception:
                logger.exception("dependency checks failed")
