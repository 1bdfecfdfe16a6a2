"""The backend's collections and their indexes, created at startup."""

from __future__ import annotations

import contextlib
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure

from backend.stores.idempotency import IDEMPOTENCY_COLLECTION, KEY_LIFETIME
from backend.stores.tokens import TOKENS_COLLECTION
from backend.stores.users import USERS_COLLECTION

STRATEGIES_COLLECTION = "strategies"
BACKTESTS_COLLECTION = "backtests"
# One document the readiness probe rewrites: MongoDB still takes this service's writes.
HEALTH_PROBE_COLLECTION = "api_health"


async def ensure_indexes(database: AsyncDatabase[dict[str, Any]]) -> None:
    with contextlib.suppress(OperationFailure):  # users held one token each before
        await database[USERS_COLLECTION].drop_index("token_hash_1")
    await database[TOKENS_COLLECTION].create_index("token_hash", unique=True)
    await database[TOKENS_COLLECTION].create_index(
        [("user_id", ASCENDING), ("created_at", ASCENDING)]
    )
    await database[IDEMPOTENCY_COLLECTION].create_index(
        "created_at", expireAfterSeconds=int(KEY_LIFETIME.total_seconds())
    )
    await database[USERS_COLLECTION].create_index("name", unique=True)
    await database[STRATEGIES_COLLECTION].create_index(
        [("user_id", ASCENDING), ("created_at", DESCENDING)]
    )
    # A symbol's deletion asks which strategies use it.
    await database[STRATEGIES_COLLECTION].create_index("symbol")
    await database[BACKTESTS_COLLECTION].create_index(
        [("user_id", ASCENDING), ("strategy_id", ASCENDING), ("created_at", DESCENDING)]
    )
    await database[BACKTESTS_COLLECTION].create_index("execution_id")
    # One field each: a reuse looks a backtest up by its inputs, and the supervisor's
    # sweeps select by status alone (`BacktestStore.stale_pending`). Both replace
    # compound indexes, which the embedded server does not use.
    for replaced in ("input_key_1_status_1", "status_1_updated_at_1"):
        with contextlib.suppress(OperationFailure):
            await database[BACKTESTS_COLLECTION].drop_index(replaced)
    await database[BACKTESTS_COLLECTION].create_index("input_key")
    await database[BACKTESTS_COLLECTION].create_index("status")
