"""Who the caller is, and signing in with a name and password (the dashboard)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from backend.deps import (
    CurrentUser,
    DatabaseDep,
    PasswordChecksDep,
    PresentedToken,
    SignInThrottleDep,
    TokenStoreDep,
)
from backend.services.passwords import check_password
from backend.stores.tokens import IssuedToken
from backend.stores.users import USERS_COLLECTION, User
from shared.contracts.common import Name
from shared.errors import InvalidInput, TooManyRequests, Unauthorized, Unavailable
from shared.web.errors import responses_for

router = APIRouter(prefix="/api", tags=["users"], responses=responses_for(Unauthorized))


# Signing in and out; taken out of the request slots (its password checks are bounded
# by a pool of their own), so a flood of sign-ins never holds the slots members need.
SESSION_PATH = "/session"
SESSION_LIFETIME = timedelta(days=30)
# A refused sign-in (a wrong pair, or throttled) is answered this late: waiting costs the
# server nothing, and a loop of guesses gets at most one answer a second per connection
# instead of hundreds, each of which the event loop would otherwise spend time on.
REFUSED_SIGN_IN_PAUSE_S = 1.0
SESSION_TOKEN_NAME = "dashboard sign-in"  # noqa: S105 (a label, not a secret)


class SignIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": "alice", "password": "correct horse battery"}]},
    )

    name: Name
    password: Annotated[str, Field(min_length=1, max_length=1_000)]


@router.post(
    SESSION_PATH,
    summary="Sign in with a name and password",
    status_code=status.HTTP_201_CREATED,
    responses=responses_for(400, InvalidInput, TooManyRequests, Unavailable),
)
async def sign_in(
    fields: SignIn,
    request: Request,
    database: DatabaseDep,
    tokens: TokenStoreDep,
    throttle: SignInThrottleDep,
    checks: PasswordChecksDep,
) -> IssuedToken:
    """A new API token for the member (valid 30 days, listed and revocable with the
    others) when the password is theirs; 401 otherwise, the same for an unknown name.
    After `SIGN_IN_FAILURES_PER_NAME` failures for a name, or
    `SIGN_IN_FAILURES_PER_ADDRESS` from an address, in 15 minutes, 429 with
    `Retry-After`, the password unchecked. `botclub create-user NAME --password` sets a
    member's password."""
    address = request.client.host if request.client else "unknown"
    if refusal := throttle.attempt(fields.name, address):
        await asyncio.sleep(REFUSED_SIGN_IN_PAUSE_S)
        raise refusal
    user = await check_password(database[USERS_COLLECTION], fields.name, fields.password, checks)
    if user is None:
        await asyncio.sleep(REFUSED_SIGN_IN_PAUSE_S)
        raise Unauthorized("wrong name or password")
    throttle.succeeded(fields.name, address)
    return await tokens.create(user, SESSION_TOKEN_NAME, SESSION_LIFETIME)


@router.delete(SESSION_PATH, summary="Sign out", status_code=status.HTTP_204_NO_CONTENT)
async def sign_out(user: CurrentUser, token: PresentedToken, tokens: TokenStoreDep) -> Response:
    """Revoke the token this request carries, at once (the dashboard's Sign out); the
    member's other tokens stay valid."""
    await tokens.revoke_token(token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/me", summary="The signed-in user")
async def me(user: CurrentUser) -> User:
    """The user the bearer token belongs to (401 when the token does not hold)."""
    return user
