"""Who the caller is: what a client checks a token with."""

from __future__ import annotations

from fastapi import APIRouter

from backend.deps import CurrentUser
from backend.users import User
from shared.errors import Unauthorized
from shared.web.errors import responses_for

router = APIRouter(prefix="/api", tags=["users"], responses=responses_for(Unauthorized))


@router.get("/me", summary="The signed-in user")
async def me(user: CurrentUser) -> User:
    """The user the bearer token belongs to (401 when the token does not hold)."""
    return user
