"""Users and their bearer tokens. Only a token's SHA-256 is stored: tokens are 256 random
bits, so a fast hash is enough and a stolen database holds no usable token."""

from __future__ import annotations

import hashlib
import secrets
import uuid

from pydantic import BaseModel
from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError

from shared.contracts.common import utc_now
from shared.mongo import Document

__all__ = ["USERS_COLLECTION", "User", "find_by_token", "hash_token", "issue_token"]

USERS_COLLECTION = "users"


class User(BaseModel):
    id: str
    name: str


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(users: Collection[Document], name: str) -> tuple[User, str]:
    """Create the user `name`, or give an existing one a new token (the old one stops
    working). Returns the user and the token, which is shown this once."""
    token = secrets.token_urlsafe(32)
    token_fields = {"token_hash": hash_token(token), "token_issued_at": utc_now()}
    document = users.find_one_and_update(
        {"name": name}, {"$set": token_fields}, return_document=ReturnDocument.AFTER
    )
    if document is None:
        document = {"_id": str(uuid.uuid4()), "name": name, "created_at": utc_now(), **token_fields}
        try:
            users.insert_one(document)
        except DuplicateKeyError:  # created meanwhile by another caller: take it over
            return issue_token(users, name)
    return User(id=document["_id"], name=document["name"]), token


async def find_by_token(users: AsyncCollection[Document], token: str) -> User | None:
    document = await users.find_one({"token_hash": hash_token(token)})
    return User(id=document["_id"], name=document["name"]) if document else None
