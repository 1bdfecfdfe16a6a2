"""The rule language's reference: every function a rule may call."""

from __future__ import annotations

from fastapi import APIRouter

from backend.deps import CurrentUser
from shared.contracts.functions import FunctionInfo, function_reference
from shared.errors import Unauthorized
from shared.web.errors import responses_for

router = APIRouter(
    prefix="/api/functions", tags=["strategies"], responses=responses_for(Unauthorized)
)


@router.get("", summary="The functions a rule may call")
async def list_functions(user: CurrentUser) -> list[FunctionInfo]:
    """Every function of the rule language, by group and name: its arguments with their
    kinds, defaults and bounds, what it gives (a series or a condition), one line of
    doc, the TA-Lib function it computes, and the bars it needs before a first value."""
    return function_reference()
