"""Who a symbol matters to: the names of its importers, and the strategies that use it,
so a deletion that would leave strategies without bars is refused unless forced."""

from __future__ import annotations

from collections.abc import Iterable

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from backend.database import STRATEGIES_COLLECTION
from backend.stores.users import USERS_COLLECTION
from shared.contracts.symbol_uses import StrategyUse
from shared.errors import Conflict
from shared.market_data.catalog import SYSTEM_OWNER
from shared.mongo import Document

__all__ = ["check_unused", "owner_names", "strategies_using"]

# How many of the member's strategies a refusal lists: the count is always said in full.
_USES_LISTED = 100
FORCE_HINT = (
    "Delete it anyway with force=true: their finished backtests stay readable, new runs "
    "need other bars"
)


async def owner_names(
    database: AsyncDatabase[Document], owner_ids: Iterable[str | None]
) -> dict[str | None, str]:
    """Each owner id's name as a member reads it: a member's name, `sample data` for the
    bundled samples, `administrator` for an import without a member."""
    ids = {owner for owner in owner_ids if owner and owner != SYSTEM_OWNER}
    cursor = database[USERS_COLLECTION].find({"_id": {"$in": sorted(ids)}}, {"name": 1})
    names: dict[str | None, str] = {document["_id"]: document["name"] async for document in cursor}
    return {None: "administrator", SYSTEM_OWNER: "sample data"} | names


async def strategies_using(
    database: AsyncDatabase[Document], symbol: str, user_id: str
) -> tuple[int, int, list[StrategyUse]]:
    """How many strategies (every member's) backtest `symbol`, how many of them are the
    member's, and the first of the member's own by name. Other members' strategies are
    counted, never named."""
    strategies = database[STRATEGIES_COLLECTION]
    count = await strategies.count_documents({"symbol": symbol})
    own = await strategies.count_documents({"symbol": symbol, "user_id": user_id})
    cursor = (
        strategies.find({"symbol": symbol, "user_id": user_id}, {"name": 1})
        .sort("name", ASCENDING)
        .limit(_USES_LISTED)
    )
    owner = (await owner_names(database, [user_id])).get(user_id, "a former member")
    uses = [
        StrategyUse(name=document["name"], owner=owner, strategy_id=document["_id"])
        async for document in cursor
    ]
    return count, own, uses


async def check_unused(database: AsyncDatabase[Document], symbol: str, user_id: str) -> None:
    """Conflict naming the member's strategies that use `symbol` and counting other
    members', if any strategy does."""
    count, own, uses = await strategies_using(database, symbol, user_id)
    if count == 0:
        return
    parts = []
    if uses:
        more = f" and {own - len(uses)} more" if own > len(uses) else ""
        parts.append("yours " + ", ".join(repr(use.name) for use in uses) + more)
    if count > own:
        parts.append(f"{count - own} of other members")
    strategies = "strategy uses" if count == 1 else "strategies use"
    raise Conflict(
        {
            "msg": f"{count} {strategies} {symbol}: {' and '.join(parts)}. {FORCE_HINT}",
            "used_by": [use.model_dump() for use in uses],
        }
    )
