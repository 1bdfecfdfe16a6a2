"""Members' passwords, for signing in to the dashboard: hashed with Argon2id (argon2-cffi,
its recommended parameters), never stored or logged as given. Scripts keep using API
tokens; signing in with a password issues one."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.collection import Collection

from backend.users import User
from shared.mongo import Document

__all__ = ["MIN_PASSWORD_LENGTH", "PasswordTooShort", "check_password", "set_password"]

MIN_PASSWORD_LENGTH = 8
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


async def check_password(users: AsyncCollection[Document], name: str, password: str) -> User | None:
    """The user `name` if `password` is theirs; None otherwise (unknown name included).
    Argon2 takes tens of milliseconds on purpose: it runs off the event loop."""
    document = await users.find_one({"name": name}, {"name": 1, "password_hash": 1})
    stored = (document or {}).get("password_hash") or _UNKNOWN_USER_HASH
    try:
        await asyncio.to_thread(_HASHER.verify, stored, password)
    except (VerificationError, InvalidHashError):
        return None
    if document is None or not document.get("password_hash"):
        return None
    return User(id=document["_id"], name=document["name"])
