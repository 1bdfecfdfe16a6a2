"""Stored rules keep their meaning when the language redefines a function.

`roc` gave a fraction before the language took TA-Lib's names; TA-Lib's ROC is in
percent, and TA-Lib's ROCP is the fraction. A rule stored before then, such as
`roc(close, 10) > 0.05`, would silently mean a rise of 0.05 % instead of 5 %, so its
calls of `roc` become calls of `rocp`. Each service rewrites what it stored (the API its
strategies and the strategy each backtest ran, the compute service the requests of the
runs it has not finished) once per database, when it first starts on this version, and
before it takes any work; doing it again changes nothing, as `rocp` is not `roc`.
"""

from __future__ import annotations

import contextlib
import re
from typing import Any

from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from shared.contracts.common import utc_now
from shared.contracts.strategies import Rules
from shared.mongo import Document

__all__ = ["ROC_IN_PERCENT", "rewrite_roc_calls", "upgrade_once", "with_roc_as_a_fraction"]

ROC_IN_PERCENT = "roc-in-percent"
_ROC_CALL = re.compile(r"\broc(?=\s*\()")


def with_roc_as_a_fraction(rule: str) -> str:
    """The rule with each call of `roc` (a fraction when it was stored) made a call of
    `rocp`, which is that fraction under TA-Lib's names."""
    return _ROC_CALL.sub("rocp", rule)


async def upgrade_once(
    upgrades: AsyncCollection[Document],
    name: str,
    rewrites: list[tuple[AsyncCollection[Document], str, Document]],
) -> None:
    """Apply `rewrites` (collection, dotted path of the rules, which documents) unless
    the upgrade `name` is noted in `upgrades`; then note it."""
    if await upgrades.find_one({"_id": name}, {"_id": 1}) is not None:
        return
    for collection, rules_at, query in rewrites:
        await rewrite_roc_calls(collection, rules_at, query)
    with contextlib.suppress(DuplicateKeyError):  # another process started beside this one
        await upgrades.insert_one({"_id": name, "applied_at": utc_now()})


async def rewrite_roc_calls(
    collection: AsyncCollection[Document], rules_at: str, query: Document
) -> None:
    """The rules at the dotted path `rules_at` of the documents `query` finds, with
    their calls of `roc` rewritten, in one batch of updates."""
    names = list(Rules.model_fields)
    calling_roc = {"$or": [{f"{rules_at}.{name}": {"$regex": "roc"}} for name in names]}
    updates = []
    # The whole top-level field: how a server answers a dotted projection varies.
    top = rules_at.split(".")[0]
    async for document in collection.find({"$and": [query, calling_roc]}, {top: 1}):
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
