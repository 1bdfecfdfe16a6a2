"""The API's part of keeping stored rules' meaning (`shared.rule_upgrades`): members'
strategies, and the strategy each backtest ran (its description stays true to its
result)."""

from __future__ import annotations

from pymongo.asynchronous.database import AsyncDatabase

from backend.database import BACKTESTS_COLLECTION, STRATEGIES_COLLECTION
from shared.mongo import Document
from shared.rule_upgrades import ROC_IN_PERCENT, upgrade_once

__all__ = ["UPGRADES_COLLECTION", "upgrade_stored_rules"]

UPGRADES_COLLECTION = "rule_upgrades"


async def upgrade_stored_rules(database: AsyncDatabase[Document]) -> None:
    """Rewrite the rules stored before `roc` meant percent, once per database."""
    await upgrade_once(
        database[UPGRADES_COLLECTION],
        ROC_IN_PERCENT,
        [
            (database[STRATEGIES_COLLECTION], "rules", {}),
            (database[BACKTESTS_COLLECTION], "strategy.rules", {}),
        ],
    )
