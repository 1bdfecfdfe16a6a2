"""A member of the end-to-end benchmark: submits backtests through the API and waits for
each one's end the way a member's client does, over Server-Sent Events or by polling
`GET /api/backtest/{id}`, noting the wall-clock times the stage breakdown compares with
the services' own records."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

__all__ = ["FINAL", "POLL_INTERVAL_S", "Member", "Run", "distinct_capital"]

FINAL = ("completed", "failed", "cancelled")
POLL_INTERVAL_S = 0.5

# Every backtest gets a capital no other had, so its input is new and it is computed
# rather than answered at once from the stored result of an identical earlier one.
_capitals = itertools.count(10_000)


def distinct_capital() -> int:
    return next(_capitals)


@dataclass
class Run:
    """One backtest as its member saw it; times are wall-clock seconds (time.time()), so
    they compare with the datetimes the services store."""

    backtest_id: str
    big: bool
    submitted: float
    answered: float
    final_at: float | None = None
    status: str | None = None
    cached: bool = False

    @property
    def post_s(self) -> float:
        return self.answered - self.submitted

    @property
    def end_to_end_s(self) -> float | None:
        return None if self.final_at is None else self.final_at - self.submitted


@dataclass
class Member:
    """A member with an API token and a connection pool of their own."""

    api_url: str
    token: str
    http: httpx.AsyncClient = field(init=False)

    def __post_init__(self) -> None:
        self.http = httpx.AsyncClient(
            base_url=self.api_url,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=httpx.Timeout(120, connect=30),
        )

    async def close(self) -> None:
        await self.http.aclose()

    async def strategy(self, fields: dict[str, Any]) -> str:
        response = await self.http.post("/api/strategy", json=fields)
        if response.status_code != 201:
            raise RuntimeError(f"strategy: {response.status_code} {response.text[:300]}")
        strategy_id: str = response.json()["id"]
        return strategy_id

    async def submit(self, strategy_id: str, params: dict[str, Any], big: bool) -> Run:
        """POST a backtest. One not accepted (202) is final at once, its status saying
        why (`refused: ...`), so the checks count it."""
        body = params | {"initial_capital": distinct_capital()}
        submitted = time.time()
        try:
            response = await self.http.post(f"/api/strategy/{strategy_id}/backtest", json=body)
        except httpx.TransportError as error:
            return Run("", big, submitted, time.time(), time.time(), f"refused: {error!r}")
        answered = time.time()
        if response.status_code != 202:
            refusal = f"refused: {response.status_code} {response.text[:200]}"
            return Run("", big, submitted, answered, answered, refusal)
        record = response.json()
        run = Run(record["id"], big, submitted, answered)
        if record["status"] in FINAL:  # answered from the result cache, or refused
            run.final_at, run.status = answered, record["status"]
            run.cached = bool((record.get("result") or {}).get("cached"))
        return run

    async def follow(self, run: Run, timeout_s: float) -> None:
        """Read the backtest's event stream until its final event (bounded by
        `timeout_s`); leaves `run.final_at` unset if none came."""
        if run.final_at is not None:
            return
        try:
            await asyncio.wait_for(self._until_final_event(run), timeout_s)
        except (TimeoutError, httpx.TransportError):
            return

    async def _until_final_event(self, run: Run) -> None:
        async with self.http.stream("GET", f"/api/backtest/{run.backtest_id}/events") as stream:
            kind = ""
            async for line in stream.aiter_lines():
                if line.startswith("event:"):
                    kind = line[6:].strip()
                elif line.startswith("data:"):
                    event = json.loads(line[5:])
                    if kind == "final" or event.get("final"):
                        run.final_at, run.status = time.time(), event.get("status")
                        return

    async def poll(self, run: Run, latencies_s: list[float], deadline: float) -> None:
        """GET the backtest every POLL_INTERVAL_S until it is final or `deadline`
        (monotonic) passes, each GET's latency added to `latencies_s`."""
        while run.final_at is None and time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                response = await self.http.get(f"/api/backtest/{run.backtest_id}")
            except httpx.TransportError:
                await asyncio.sleep(POLL_INTERVAL_S)
                continue
            latencies_s.append(time.perf_counter() - started)
            status = response.json().get("status") if response.status_code == 200 else None
            if status in FINAL:
                run.final_at, run.status = time.time(), status
                return
            await asyncio.sleep(POLL_INTERVAL_S)
