"""API tokens: a member lists, creates and revokes its own."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from backend.deps import CurrentUser, TokenStoreDep
from backend.stores.tokens import IssuedToken, TokenInfo
from shared.contracts.common import Name
from shared.errors import InvalidInput, NotFound, PayloadTooLarge, Unauthorized
from shared.web.errors import responses_for

router = APIRouter(
    prefix="/api/tokens",
    tags=["tokens"],
    responses=responses_for(400, Unauthorized, PayloadTooLarge),
)


class TokenRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": "laptop", "expires_in_days": 30}]},
    )

    name: Name = Field(description="What the token is for, to tell it apart in the list.")
    expires_in_days: Annotated[StrictInt, Field(ge=1, le=3650)] | None = Field(
        default=90, description="Null: the token does not expire."
    )


@router.get("", summary="List your API tokens")
async def list_tokens(user: CurrentUser, tokens: TokenStoreDep) -> list[TokenInfo]:
    """Your tokens, oldest first, revoked and expired ones included; never the secrets."""
    return await tokens.list(user.id)


@router.post(
    "",
    summary="Create an API token",
    status_code=status.HTTP_201_CREATED,
    responses=responses_for(InvalidInput),
)
async def create_token(
    request: TokenRequest, user: CurrentUser, tokens: TokenStoreDep
) -> IssuedToken:
    """A new token; the others stay valid. The token itself is in this answer only."""
    lifetime = timedelta(days=request.expires_in_days) if request.expires_in_days else None
    return await tokens.create(user, request.name, lifetime)


@router.delete("/{token_id}", summary="Revoke an API token", responses=responses_for(NotFound))
async def revoke_token(token_id: str, user: CurrentUser, tokens: TokenStoreDep) -> TokenInfo:
    """Revoke a token at once (revoking it again changes nothing), the one in use too."""
    revoked = await tokens.revoke(user.id, token_id)
    if revoked is None:
        raise NotFound("token not found")
    return revoked
