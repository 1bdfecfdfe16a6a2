"""Wrong-password loops against `POST /api/session`, run in a process of their own at
nice 10 (on a real deployment the attackers are other machines): `loops` concurrent
connections, each sending a wrong password, waiting for the answer, and sending the
next, until told to stop; paused on demand, so a benchmark can measure with and without
it in turns, under the same background load. Each loop comes from its own loopback
address and tries a new name each time when `spread` (a distributed guesser: every
attempt's password is checked), or all from 127.0.0.1 at one member's name otherwise."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import time
from collections import Counter
from dataclasses import dataclass
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event

import httpx

__all__ = ["SignInFlood"]

FLOOD_NICE = 10
_POLL_S = 0.05
_DRAIN_TIMEOUT_S = 120.0
WRONG_PASSWORD = "not the password"  # noqa: S105 (wrong on purpose)


@dataclass(frozen=True)
class _Orders:
    """What the flood's process does, and how it is told to pause and stop."""

    api_url: str
    loops: int
    name: str
    spread: bool
    stop: Event
    paused: Event
    in_flight: Synchronized[int]


class SignInFlood:
    """Started on entry, stopped on exit; `answers` counts the statuses it got."""

    def __init__(self, api_url: str, loops: int, name: str, spread: bool) -> None:
        self._orders = _Orders(
            api_url,
            loops,
            name,
            spread,
            stop=multiprocessing.Event(),
            paused=multiprocessing.Event(),
            in_flight=multiprocessing.Value("i", 0),
        )
        self._results: multiprocessing.Queue[Counter[int]] = multiprocessing.Queue()
        self._process = multiprocessing.Process(target=_run, args=(self._orders, self._results))
        self.answers: Counter[int] = Counter()

    def pause(self) -> None:
        """Stop sending, and wait until every attempt sent has been answered."""
        self._orders.paused.set()
        deadline = time.monotonic() + _DRAIN_TIMEOUT_S
        while self._orders.in_flight.value and time.monotonic() < deadline:
            time.sleep(_POLL_S)

    def resume(self) -> None:
        self._orders.paused.clear()

    def __enter__(self) -> SignInFlood:
        self._process.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._orders.stop.set()
        self.answers = self._results.get(timeout=120)
        self._process.join(30)


def _run(orders: _Orders, results: multiprocessing.Queue[Counter[int]]) -> None:
    os.nice(FLOOD_NICE)
    results.put(asyncio.run(_flood(orders)))


async def _flood(orders: _Orders) -> Counter[int]:
    answers: Counter[int] = Counter()

    async def loop(index: int) -> None:
        # 127.0.0.2, 127.0.0.3, ...: Linux answers the whole of 127/8 on loopback.
        spread = orders.spread
        address = f"127.0.{(index + 2) // 256}.{(index + 2) % 256}" if spread else "127.0.0.1"
        transport = httpx.AsyncHTTPTransport(local_address=address)
        async with httpx.AsyncClient(
            base_url=orders.api_url, transport=transport, timeout=120
        ) as api:
            attempt = 0
            while not orders.stop.is_set():
                if orders.paused.is_set():
                    await asyncio.sleep(_POLL_S)
                    continue
                target = f"{orders.name}-{index}-{attempt}" if orders.spread else orders.name
                with orders.in_flight.get_lock():
                    orders.in_flight.value += 1
                answer = await api.post(
                    "/api/session", json={"name": target, "password": WRONG_PASSWORD}
                )
                with orders.in_flight.get_lock():
                    orders.in_flight.value -= 1
                answers[answer.status_code] += 1
                attempt += 1

    await asyncio.gather(*(loop(index) for index in range(orders.loops)))
    return answers
