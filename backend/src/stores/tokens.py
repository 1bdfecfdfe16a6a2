"""API tokens: each member may hold several, each with a name and an optional expiry,
listed and revoked one by one. Only a token's SHA-256 is stored: tokens are 256 random
bits, so a fast hash is enough and a stolen database holds no usable token."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.collection import Collection

from backend.stores.token_cache import TokenCache
from backend.stores.users import User, ensure_user
from shared.contracts.common import as_utc, utc_now
from shared.mongo import Document

__all__ = [
    "TOKENS_COLLECTION",
    "IssuedToken",
    "TokenInfo",
    "TokenStore",
    "hash_token",
    "issue_token",
]

TOKENS_COLLECTION = "tokens"
# Marks a string as this service's token (for secret scanners, and for a reader), and
# keeps a token from starting with "-", which a command line would take for an option.
TOKEN_PREFIX = "bcb_"  # noqa: S105 (a public prefix, not a secret)
ISSUED_BY_COMMAND = "issued by botclub"
MAX_TOKENS_LISTED = 200


_TOKEN_EXAMPLE: dict[str, Any] = {
    "id": "3f2b8c1d-6e4a-4f7b-9c0d-1a2b3c4d5e6f",
    "name": "laptop",
    "created_at": "2026-11-30T09:00:00Z",
    "expires_at": "2026-12-30T09:00:00Z",
    "revoked_at": None,
}


class TokenInfo(BaseModel):
    """A token as its owner sees it: never the secret itself."""

    model_config = ConfigDict(json_schema_extra={"examples": [_TOKEN_EXAMPLE]})

    id: str
    name: str
    created_at: datetime
    expires_at: datetime | None = Field(description="Null: it does not expire.")
    revoked_at: datetime | None = None

    @classmethod
    def from_document(cls, document: Document) -> TokenInfo:
        return cls.model_validate({**document, "id": document["_id"]})


class IssuedToken(TokenInfo):
    model_config = ConfigDict(
        json_schema_extra={"examples": [_TOKEN_EXAMPLE | {"token": "bcb_" + "x" * 43}]}
    )

    token: str = Field(description="The token itself, shown this once.")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token_document(user: User, name: str, lifetime: timedelta | None) -> tuple[Document, str]:
    """A token's document and the token itself. The document names its user too, so a
    request is authenticated with one read."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = utc_now()
    document: Document = {
        "_id": str(uuid.uuid4()),
        "user_id": user.id,
        "user_name": user.name,
        "name": name,
        "token_hash": hash_token(token),
        "created_at": now,
        "expires_at": now + lifetime if lifetime else None,
        "revoked_at": None,
    }
    return document, token


def issue_token(
    users: Collection[Document], name: str, lifetime: timedelta | None = None
) -> tuple[User, str]:
    """Create the user `name` if it is new and give it a new token (synchronous: for
    commands); its other tokens stay valid. The token is shown this once."""
    user = ensure_user(users, name)
    document, token = new_token_document(user, ISSUED_BY_COMMAND, lifetime)
    users.database[TOKENS_COLLECTION].insert_one(document)
    return user, token


class TokenStore:
    def __init__(
        self, collection: AsyncCollection[Document], cache: TokenCache | None = None
    ) -> None:
        self._collection = collection
        self._cache = cache or TokenCache(ttl_s=0.0)

    async def create(self, user: User, name: str, lifetime: timedelta | None) -> IssuedToken:
        document, token = new_token_document(user, name, lifetime)
        await self._collection.insert_one(document)
        return IssuedToken(**TokenInfo.from_document(document).model_dump(), token=token)

    async def list(self, user_id: str) -> list[TokenInfo]:
        cursor = self._collection.find({"user_id": user_id}, {"token_hash": 0}).sort(
            "created_at", 1
        )
        return [
            TokenInfo.from_document(document) async for document in cursor.limit(MAX_TOKENS_LISTED)
        ]

    async def revoke(self, user_id: str, token_id: str) -> TokenInfo | None:
        """Revoke one of the user's tokens (again: no change); None if it has none such."""
        document = await self._collection.find_one_and_update(
            {"_id": token_id, "user_id": user_id, "revoked_at": None},
            {"$set": {"revoked_at": utc_now()}},
            projection={"token_hash": 0},
            return_document=ReturnDocument.AFTER,
        )
        self._cache.forget(token_id=token_id)
        if document is None:
            document = await self._collection.find_one(
                {"_id": token_id, "user_id": user_id}, {"token_hash": 0}
            )
        return TokenInfo.from_document(document) if document else None

    async def revoke_token(self, token: str) -> None:
        """Revoke `token` itself (signing out); a token revoked already stays as it was."""
        token_hash = hash_token(token)
        await self._collection.update_one(
            {"token_hash": token_hash, "revoked_at": None}, {"$set": {"revoked_at": utc_now()}}
        )
        self._cache.forget(token_hash=token_hash)

    async def user_of(self, token: str) -> User | None:
        """The user a valid token belongs to; None if it is unknown, revoked or expired
        (a token seen valid a moment ago is taken from the cache)."""
        token_hash = hash_token(token)
        if (cached := self._cache.get(token_hash)) is not None:
            return cached
        document = await self._collection.find_one(
            {"token_hash": token_hash},
            {"user_id": 1, "user_name": 1, "expires_at": 1, "revoked_at": 1},
        )
        if document is None:
            return None
        check = _TokenCheck.model_validate(document)
        if check.revoked_at is not None:
            return None
        if check.expires_at is not None and as_utc(check.expires_at) <= utc_now():
            return None
        user = User(id=check.user_id, name=check.user_name)
        self._cache.put(token_hash, check.id, user, check.expires_at)
        return user


class _TokenCheck(BaseModel):
    id: str = Field(alias="_id")
    user_id: str
    user_name: str
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
