"""Keeping the stack's processes running for `botclub run`.

A process that dies (a crash, an out-of-memory kill, `kill -9`) is started again after
a pause that doubles with each death within the window (0.5 s, 1 s, 2 s, ... at most
8 s), said on the terminal and in the process's own log. One that dies `max_deaths`
times within `window_s` would only keep failing: the stack is stopped, with the end of
its log. Work in flight is not lost by a restart: the services take it up again from
MongoDB (stale runs are queued again, results delivered again).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NoReturn

from botclub.local_stack import ChildProcess, StackError

__all__ = ["RestartPolicy", "StackSupervisor"]


@dataclass(frozen=True)
class RestartPolicy:
    max_deaths: int = 5
    window_s: float = 60.0
    first_delay_s: float = 0.5
    max_delay_s: float = 8.0

    def delay_s(self, deaths: list[float], now: float) -> float | None:
        """The pause before starting a process again, given the monotonic times it died
        (the latest included); None when it died too often within the window."""
        recent = sum(1 for died in deaths if now - died <= self.window_s)
        if recent >= self.max_deaths:
            return None
        return float(min(self.first_delay_s * 2 ** max(recent - 1, 0), self.max_delay_s))


@dataclass
class _Supervised:
    start: Callable[[], ChildProcess]
    child: ChildProcess
    deaths: list[float] = field(default_factory=list)


class StackSupervisor:
    """The stack's processes, in the order they were started (and stopped in reverse).

    `say` prints to the terminal; `on_change` is told whenever a process was replaced,
    so the stack file can name the new pids."""

    def __init__(
        self,
        policy: RestartPolicy = RestartPolicy(),
        say: Callable[[str], None] = print,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self._policy = policy
        self._say = say
        self._on_change = on_change
        self._processes: list[_Supervised] = []

    def start(self, start: Callable[[], ChildProcess]) -> ChildProcess:
        """Start a process with `start` (which waits until it is ready) and keep it
        running from now on with the same call."""
        child = start()
        self._processes.append(_Supervised(start, child))
        return child

    def pids(self) -> dict[str, int]:
        return {supervised.child.name: supervised.child.pid for supervised in self._processes}

    def watch(self, poll_s: float = 0.25) -> NoReturn:
        """Restart whatever dies, until one keeps dying (StackError) or the caller is
        interrupted (Ctrl-C: KeyboardInterrupt)."""
        while True:
            self.check()
            time.sleep(poll_s)

    def check(self) -> None:
        """Start again, one after the other, the processes that have died."""
        for supervised in self._processes:
            if not supervised.child.running():
                self._restart(supervised)

    def stop(self) -> None:
        for supervised in reversed(self._processes):
            supervised.child.stop()

    def _restart(self, supervised: _Supervised) -> None:
        dead = supervised.child
        ended = f"{dead.name} (pid {dead.pid}) {_how_it_ended(dead.process.returncode)}"
        dead.stop()  # closes its log file
        while True:
            now = time.monotonic()
            supervised.deaths.append(now)
            delay_s = self._policy.delay_s(supervised.deaths, now)
            if delay_s is None:
                raise StackError(
                    f"{dead.name} died {self._policy.max_deaths} times within "
                    f"{self._policy.window_s:g} s, the last time: {ended}; stopping the "
                    f"stack. The end of its log, {dead.log_path}:\n{dead.log_tail()}"
                )
            self._tell(dead, f"{ended}; starting it again in {delay_s:g} s")
            time.sleep(delay_s)
            try:
                supervised.child = supervised.start()
            except StackError as failed:
                ended = str(failed).splitlines()[0].rstrip(":")
                continue
            self._tell(supervised.child, f"{dead.name} is back (pid {supervised.child.pid})")
            self._on_change()
            return

    def _tell(self, child: ChildProcess, message: str) -> None:
        """On the terminal, and in the process's log beside what it wrote itself."""
        self._say(message)
        with child.log_path.open("a") as log:
            log.write(f"{datetime.now(UTC):%Y-%m-%d %H:%M:%S} botclub run: {message}\n")


def _how_it_ended(returncode: int | None) -> str:
    if returncode is not None and returncode < 0:
        return f"was killed by {signal.Signals(-returncode).name}"
    return f"exited with {returncode}"
