"""Failed sign-ins, counted per member name and per client address: past a bound in a
window, sign-ins are refused (429, with the seconds until one is allowed again) without
a password being checked.

Per name, a password cannot be guessed faster than `per_name` tries a window however
many addresses try it; per address, one client cannot spray guesses over many names.
An attempt counts as a failure from the moment it is let through (so a burst of
concurrent attempts cannot all pass before the first one fails); a success takes its
count back and clears its name's. The counts live in the process
(one API process serves a club; a restart forgets them), each table bounded to the
`max_keys` most recently failed keys, so a spray of made-up names costs bounded memory.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque

from shared.errors import TooManyRequests

__all__ = ["SIGN_IN_WINDOW_S", "SignInThrottle"]

SIGN_IN_WINDOW_S = 15 * 60
_MAX_KEYS = 100_000


class _Failures:
    """The times of recent failures, per key, oldest key first."""

    def __init__(self, limit: int, window_s: float, max_keys: int) -> None:
        self._limit = limit
        self._window_s = window_s
        self._max_keys = max_keys
        self._times: OrderedDict[str, deque[float]] = OrderedDict()

    def wait_s(self, key: str, now: float) -> float:
        """0 when `key` may try now; else the seconds until its oldest counted failure
        leaves the window."""
        times = self._times.get(key)
        if times is None:
            return 0.0
        while times and times[0] <= now - self._window_s:
            times.popleft()
        if not times:
            del self._times[key]
            return 0.0
        return times[0] + self._window_s - now if len(times) >= self._limit else 0.0

    def add(self, key: str, now: float) -> None:
        times = self._times.setdefault(key, deque(maxlen=self._limit))
        times.append(now)
        self._times.move_to_end(key)
        while len(self._times) > self._max_keys:
            self._times.popitem(last=False)

    def clear(self, key: str) -> None:
        self._times.pop(key, None)

    def take_back(self, key: str) -> None:
        """Forget the latest failure of `key`."""
        times = self._times.get(key)
        if times:
            times.pop()


class SignInThrottle:
    def __init__(
        self,
        per_name: int,
        per_address: int,
        window_s: float = SIGN_IN_WINDOW_S,
        max_keys: int = _MAX_KEYS,
    ) -> None:
        self._names = _Failures(per_name, window_s, max_keys)
        self._addresses = _Failures(per_address, window_s, max_keys)

    def attempt(self, name: str, address: str) -> TooManyRequests | None:
        """Let an attempt through, counted as failed until `succeeded`; or the refusal,
        when `name` or `address` has failed too often lately."""
        now = time.monotonic()
        wait_s = max(self._names.wait_s(name, now), self._addresses.wait_s(address, now))
        if wait_s > 0:
            return TooManyRequests(
                "too many failed sign-ins for this name or from this address; "
                f"try again in {math.ceil(wait_s)} s",
                retry_after_s=math.ceil(wait_s),
            )
        self._names.add(name, now)
        self._addresses.add(address, now)
        return None

    def succeeded(self, name: str, address: str) -> None:
        self._names.clear(name)
        self._addresses.take_back(address)
