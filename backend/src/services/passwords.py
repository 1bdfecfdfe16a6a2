"""Members' passwords, for signing in to the dashboard: hashed with Argon2id (argon2-cffi,
its recommended parameters), never stored or logged as given. Scripts keep using API
tokens; signing in with a password issues one."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.collection import Collection

from backend.stores.users import User
from shared.errors import Unavailable
from shared.mongo import Document

__all__ = [
    "MIN_PASSWORD_LENGTH",
    "PasswordChecks",
    "PasswordTooShort",
    "check_password",
    "set_password",
]

MIN_PASSWORD_LENGTH = 8
PASSWORD_CHECK_NICENESS = 10
_HASHER = PasswordHasher()
# Hashed even for an unknown name, so the answer takes as long either way.
_UNKNOWN_USER_HASH = _HASHER.hash("not anyone's password")


class PasswordTooShort(ValueError):
    def __init__(self) -> None:
        super().__init__(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")


def set_password(users: Collection[Document], user: User, password: str) -> None:
    """Give the user a password (synchronous: for commands)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordTooShort
    users.update_one({"_id": user.id}, {"$set": {"password_hash": _HASHER.hash(password)}})


class PasswordChecks:
    """Argon2 verifications, on `threads` threads of their own: an Argon2 check takes a
    CPU core for a fifth of a second on purpose, so a flood of sign-ins takes at most
    `threads` cores from everything else the API does, and never the event loop or the
    default thread pool. At most `max_waiting` checks wait their turn; beyond, a
    sign-in is refused at once (503) rather than queued for seconds."""

    def __init__(self, threads: int, max_waiting: int) -> None:
        self._executor = ThreadPoolExecutor(
            threads, thread_name_prefix="password-check", initializer=_yield_the_cpu
        )
        self._admitted = asyncio.Semaphore(threads + max_waiting)

    async def matches(self, stored_hash: str, password: str) -> bool:
        if self._admitted.locked():
            raise Unavailable("too many sign-ins at once; try again in a few seconds")
        await self._admitted.acquire()
        loop = asyncio.get_running_loop()
        check = self._executor.submit(_matches, stored_hash, password)

        def admit_another(_: Future[bool]) -> None:
            # When the check is done, not when its caller stops waiting: a client that
            # hangs up leaves its check running, and it still counts.
            if not loop.is_closed():
                loop.call_soon_threadsafe(self._admitted.release)

        check.add_done_callback(admit_another)
        return await asyncio.wrap_future(check)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def _yield_the_cpu() -> None:
    """Run this thread at nice 10, as the backtest workers are: its checks wait for a
    core while members' requests need it (Linux gives each thread its own niceness)."""
    if sys.platform == "linux":
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), PASSWORD_CHECK_NICENESS)


def _matches(stored_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def check_password(
    users: AsyncCollection[Document], name: str, password: str, checks: PasswordChecks
) -> User | None:
    """The user `name` if `password` is theirs; None otherwise (unknown name included)."""
    document = await users.find_one({"name": name}, {"name": 1, "password_hash": 1})
    stored = (document or {}).get("password_hash") or _UNKNOWN_USER_HASH
    if not await checks.matches(stored, password):
        return None
    if document is None or not document.get("password_hash"):
        return None
    return User(id=document["_id"], name=document["name"])
