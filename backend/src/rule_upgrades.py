"""Stored rules keep their meaning when the language redefines a function.

`roc` gave a fraction before the language took TA-Lib's names; TA-Lib's ROC is in
percent, and TA-Lib's ROCP is the fraction. A rule stored before then, such as
`roc(close, 10) > 0.05`, would silently mean a rise of 0.05 % instead of 5 %, so its
calls of `roc` become calls of `rocp`: in members' strategies, and in the strategy each
backtest ran (its description stays true to its result). Done once per database, at
the API's start; doing it again changes nothing, as `rocp` is not `roc`.
"""

from __future__ import annotations

import contextlib
import re
from typing import Any

from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from backend.database import BACKTESTS_COLLECTION, STRATEGIES_COLLECTION
from shared.contracts.common import utc_now
from shared.contracts.strategies import Rules
from shared.mongo import Document

__all__ = ["UPGRADES_COLLECTION", "upgrade_stored_rules", "with_roc_as_a_fraction"]

UPGRADES_COLLECTION = "rule_upgrades"
_ROC_IN_PERCENT = "roc-in-percent"
_ROC_CALL = re.compile(r"\broc(?=\s*\()")


def with_roc_as_a_fraction(rule: str) -> str:
    """The rule with each call of `roc` (a fraction when it was stored) made a call of
    `rocp`, which is that fraction under TA-Lib's names."""
    return _ROC_CALL.sub("rocp", rule)


async def upgrade_stored_rules(database: AsyncDatabase[Document]) -> None:
    """Rewrite the rules stored before `roc` meant percent, once per database."""
    upgrades = database[UPGRADES_COLLECTION]
    if await upgrades.find_one({"_id": _ROC_IN_PERCENT}, {"_id": 1}) is not None:
        return
    await _rewrite(database[STRATEGIES_COLLECTION], "rules")
    await _rewrite(database[BACKTESTS_COLLECTION], "strategy.rules")
    with contextlib.suppress(DuplicateKeyError):  # another API process started beside it
        await upgrades.insert_one({"_id": _ROC_IN_PERCENT, "applied_at": utc_now()})


async def _rewrite(collection: AsyncCollection[Document], rules_at: str) -> None:
    """Each document's rules at the dotted path `rules_at` that call `roc`, rewritten in
    one batch of updates."""
    names = list(Rules.model_fields)
    calling_roc = {"$or": [{f"{rules_at}.{name}": {"$regex": "roc"}} for name in names]}
    updates = []
    # The whole top-level field: how a server answers a dotted projection varies.
    async for document in collection.find(calling_roc, {rules_at.split(".")[0]: 1}):
        rules: dict[str, Any] = _at(document, rules_at)
        changed = {
            f"{rules_at}.{name}": with_roc_as_a_fraction(text)
            for name, text in rules.items()
            if isinstance(text, str) and with_roc_as_a_fraction(text) != text
        }
        if changed:
            updates.append(UpdateOne({"_id": document["_id"]}, {"$set": changed}))
    if updates:
        await collection.bulk_write(updates, ordered=False)


def _at(document: Document, path: str) -> Any:
    for key in path.split("."):
        document = document.get(key) or {}
    return document
