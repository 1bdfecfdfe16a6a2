"""Who the caller is, and signing in with a name and password (the dashboard)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, ConfigDict, Field

from backend.deps import CurrentUser, DatabaseDep, PresentedToken, TokenStoreDep
from backend.passwords import check_password
from backend.tokens import IssuedToken
from backend.users import USERS_COLLECTION, User
from shared.contracts.common import Name
from shared.errors import InvalidInput, Unauthorized
from shared.web.errors import responses_for

router = APIRouter(prefix="/api", tags=["users"], responses=responses_for(Unauthorized))


SESSION_LIFETIME = timedelta(days=30)
SESSION_TOKEN_NAME = "dashboard sign-in"  # noqa: S105 (a label, not a secret)


class SignIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": "alice", "password": "correct horse battery"}]},
    )

    name: Name
    password: Annotated[str, Field(min_length=1, max_length=1_000)]


@router.post(
    "/session",
    summary="Sign in with a name and password",
    status_code=status.HTTP_201_CREATED,
    responses=responses_for(400, InvalidInput),
)
async def sign_in(fields: SignIn, database: DatabaseDep, tokens: TokenStoreDep) -> IssuedToken:
    """A new API token for the member (valid 30 days, listed and revocable with the
    others) when the password is theirs; 401 otherwise, the same for an unknown name.
    `botclub create-user NAME --password` sets a member's password."""
    user = await check_password(database[USERS_COLLECTION], fields.name, fields.password)
    if user is None:
        raise Unauthorized("wrong name or password")
    return await tokens.create(user, SESSION_TOKEN_NAME, SESSION_LIFETIME)


@router.delete("/session", summary="Sign out", status_code=status.HTTP_204_NO_CONTENT)
async def sign_out(user: CurrentUser, token: PresentedToken, tokens: TokenStoreDep) -> Response:
    """Revoke the token this request carries, at once (the dashboard's Sign out); the
    member's other tokens stay valid."""
    await tokens.revoke_token(token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/me", summary="The signed-in user")
async def me(user: CurrentUser) -> User:
    """The user the bearer token belongs to (401 when the token does not hold)."""
    return user
