"""Users. A user is a name; it signs in with any of its API tokens (`tokens.py`)."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict
from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError

from shared.contracts.common import MAX_NAME_CHARS, plain_name, utc_now
from shared.mongo import Document

__all__ = ["USERS_COLLECTION", "User", "ensure_user"]

USERS_COLLECTION = "users"


class User(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"id": "59f45441-8431-4be2-a071-9720f093628b", "name": "alice"}]
        }
    )

    id: str
    name: str


def ensure_user(users: Collection[Document], name: str) -> User:
    """The user `name`, created if it is new (synchronous: for commands); ValueError,
    saying why, for a name no member may have (see `plain_name`)."""
    if len(plain_name(name)) > MAX_NAME_CHARS:
        raise ValueError(f"a name has at most {MAX_NAME_CHARS} characters")
    document = users.find_one({"name": name})
    if document is None:
        document = {"_id": str(uuid.uuid4()), "name": name, "created_at": utc_now()}
        try:
            users.insert_one(document)
        except DuplicateKeyError:  # created meanwhile by another caller: take it over
            return ensure_user(users, name)
    return User(id=document["_id"], name=document["name"])
