"""Wrong-password loops against `POST /api/session`, run in a process of their own at
nice 10 (on a real deployment the attackers are other machines): `loops` concurrent
connections, each sending a wrong password, waiting for the answer, and sending the
next, until told to stop. Each loop comes from its own loopback address and tries a new
name each time when `spread` (a distributed guesser: every attempt's password is
checked), or all from 127.0.0.1 at one member's name otherwise."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from collections import Counter
from multiprocessing.synchronize import Event

import httpx

__all__ = ["SignInFlood"]

FLOOD_NICE = 10
WRONG_PASSWORD = "not the password"  # noqa: S105 (wrong on purpose)


class SignInFlood:
    """Started on entry, stopped on exit; `answers` counts the statuses it got."""

    def __init__(self, api_url: str, loops: int, name: str, spread: bool) -> None:
        self._arguments = (api_url, loops, name, spread)
        self._stop = multiprocessing.Event()
        self._results: multiprocessing.Queue[Counter[int]] = multiprocessing.Queue()
        self._process = multiprocessing.Process(
            target=_run, args=(*self._arguments, self._stop, self._results)
        )
        self.answers: Counter[int] = Counter()

    def __enter__(self) -> SignInFlood:
        self._process.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self.answers = self._results.get(timeout=120)
        self._process.join(30)


def _run(
    api_url: str,
    loops: int,
    name: str,
    spread: bool,
    stop: Event,
    results: multiprocessing.Queue[Counter[int]],
) -> None:
    os.nice(FLOOD_NICE)
    results.put(asyncio.run(_flood(api_url, loops, name, spread, stop)))


async def _flood(api_url: str, loops: int, name: str, spread: bool, stop: Event) -> Counter[int]:
    answers: Counter[int] = Counter()

    async def loop(index: int) -> None:
        # 127.0.0.2, 127.0.0.3, ...: Linux answers the whole of 127/8 on loopback.
        address = f"127.0.{(index + 2) // 256}.{(index + 2) % 256}" if spread else "127.0.0.1"
        transport = httpx.AsyncHTTPTransport(local_address=address)
        async with httpx.AsyncClient(base_url=api_url, transport=transport, timeout=120) as api:
            attempt = 0
            while not stop.is_set():
                target = f"{name}-{index}-{attempt}" if spread else name
                answer = await api.post(
                    "/api/session", json={"name": target, "password": WRONG_PASSWORD}
                )
                answers[answer.status_code] += 1
                attempt += 1

    await asyncio.gather(*(loop(index) for index in range(loops)))
    return answers
