"""The backend's collections and their indexes, created at startup."""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from backend.users import USERS_COLLECTION

STRATEGIES_COLLECTION = "strategies"
BACKTESTS_COLLECTION = "backtests"
# One document the readiness probe rewrites: MongoDB still takes this service's writes.
HEALTH_PROBE_COLLECTION = "api_health"


async def ensure_indexes(database: AsyncDatabase[dict[str, Any]]) -> None:
    await database[USERS_COLLECTION].create_index("token_hash", unique=True)
    await database[USERS_COLLECTION].create_index("name", unique=True)
    await database[STRATEGIES_COLLECTION].create_index(
        [("user_id", ASCENDING), ("created_at", DESCENDING)]
    )
    await database[BACKTESTS_COLLECTION].create_index(
        [("user_id", ASCENDING), ("strategy_id", ASCENDING), ("created_at", DESCENDING)]
    )
    await database[BACKTESTS_COLLECTION].create_index("execution_id")
    await database[BACKTESTS_COLLECTION].create_index(
        [("input_key", ASCENDING), ("status", ASCENDING)]
    )
    await database[BACKTESTS_COLLECTION].create_index(
        [("status", ASCENDING), ("updated_at", ASCENDING)]
    )
