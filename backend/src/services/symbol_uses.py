"""Who a symbol matters to: the names of its importers, and the strategies that use it,
so a deletion that would leave strategies without bars is refused unless forced."""

from __future__ import annotations

from collections.abc import Iterable

from pymongo.asynchronous.database import AsyncDatabase

from backend.database import STRATEGIES_COLLECTION
from backend.stores.users import USERS_COLLECTION
from shared.contracts.symbol_uses import StrategyUse
from shared.errors import Conflict
from shared.market_data.catalog import SYSTEM_OWNER
from shared.mongo import Document

__all__ = ["check_unused", "owner_names", "strategies_using"]

# How many strategies a refusal lists: the count is always said in full.
_USES_LISTED = 100


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
) -> tuple[int, list[StrategyUse]]:
    """How many strategies (every member's) backtest `symbol`, and the first of them:
    the member's own first, then by name."""
    strategies = database[STRATEGIES_COLLECTION]
    count = await strategies.count_documents({"symbol": symbol})
    cursor = strategies.find({"symbol": symbol}, {"name": 1, "user_id": 1}).limit(_USES_LISTED)
    documents = [document async for document in cursor]
    names = await owner_names(database, (document["user_id"] for document in documents))
    uses = [
        StrategyUse(
            name=document["name"],
            owner=names.get(document["user_id"], "a former member"),
            strategy_id=document["_id"] if document["user_id"] == user_id else None,
        )
        for document in documents
    ]
    uses.sort(key=lambda use: (use.strategy_id is None, use.name))
    return count, uses


async def check_unused(database: AsyncDatabase[Document], symbol: str, user_id: str) -> None:
    """Conflict listing the strategies that use `symbol`, if any do."""
    count, uses = await strategies_using(database, symbol, user_id)
    if count == 0:
        return
    listed = ", ".join(f"{use.name!r} ({use.owner})" for use in uses)
    more = f" and {count - len(uses)} more" if count > len(uses) else ""
    strategies = "strategy uses" if count == 1 else "strategies use"
    raise Conflict(
        {
            "msg": f"{count} {strategies} {symbol}: {listed}{more}. Delete it anyway with "
            "force=true: their finished backtests stay readable, new runs need other bars",
            "used_by": [use.model_dump() for use in uses],
        }
    )
