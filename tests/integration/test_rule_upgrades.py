"""Rules stored before `roc` meant percent keep their meaning after the upgrade, once:
the API's strategies and backtests, and the compute service's runs not finished yet."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from helpers import Mongo, run_with_async_database, scratch_database
from pymongo.asynchronous.database import AsyncDatabase

from backend.database import BACKTESTS_COLLECTION, STRATEGIES_COLLECTION
from backend.rule_upgrades import UPGRADES_COLLECTION, upgrade_stored_rules
from backend_services.services.backtest.engine.evaluate import RuleEvaluator
from backend_services.services.backtest.execution.records import ExecutionRecords
from shared.market_data.bars import Bars
from shared.mongo import Document, sync_client
from shared.rule_upgrades import with_roc_as_a_fraction
from shared.rules.parser import Binary, parse_rule

pytestmark = pytest.mark.integration

OLD_RULES = {
    "long_entry": "roc(close, 10) > 0.05 and rocr(close, 3) > 1",
    "long_exit": "roc (close, n) < -0.02",
    "short_entry": None,
    "short_exit": "close < sma(close, 5)",
}
UPGRADED_RULES = {
    "long_entry": "rocp(close, 10) > 0.05 and rocr(close, 3) > 1",
    "long_exit": "rocp (close, n) < -0.02",
    "short_entry": None,
    "short_exit": "close < sma(close, 5)",
}


@pytest.fixture
def database_name(mongo: Mongo) -> Iterator[str]:
    with scratch_database(mongo, "rule_upgrades") as name:
        yield name


def _upgrade(mongo: Mongo, database_name: str) -> None:
    run_with_async_database(mongo.url, database_name, upgrade_stored_rules)


def _upgrade_the_compute_services_runs(mongo: Mongo, database_name: str) -> None:
    async def upgrade(database: AsyncDatabase[Document]) -> None:
        records = ExecutionRecords(database["executions"])
        await records.upgrade_rules(database["compute_rule_upgrades"])

    run_with_async_database(mongo.url, database_name, upgrade)


def test_stored_calls_of_roc_become_rocp_once(mongo: Mongo, database_name: str) -> None:
    client = sync_client(mongo.url)
    database = client[database_name]
    database[STRATEGIES_COLLECTION].insert_many(
        [{"_id": "old", "rules": OLD_RULES}, {"_id": "plain", "rules": UPGRADED_RULES}]
    )
    database[BACKTESTS_COLLECTION].insert_one({"_id": "ran", "strategy": {"rules": OLD_RULES}})

    _upgrade(mongo, database_name)
    # Stored after the upgrade: `roc` is TA-Lib's percent, and stays as written.
    database[STRATEGIES_COLLECTION].insert_one({"_id": "new", "rules": OLD_RULES})
    _upgrade(mongo, database_name)

    strategies = {d["_id"]: d["rules"] for d in database[STRATEGIES_COLLECTION].find()}
    assert strategies == {"old": UPGRADED_RULES, "plain": UPGRADED_RULES, "new": OLD_RULES}
    assert database[BACKTESTS_COLLECTION].find_one({"_id": "ran"}) == {
        "_id": "ran",
        "strategy": {"rules": UPGRADED_RULES},
    }
    assert database[UPGRADES_COLLECTION].count_documents({}) == 1
    client.close()


def test_the_compute_services_unfinished_runs_keep_their_meaning_once(
    mongo: Mongo, database_name: str
) -> None:
    client = sync_client(mongo.url)
    executions = client[database_name]["executions"]
    executions.insert_many(
        [
            {"_id": status, "status": status, "request": {"strategy": {"rules": OLD_RULES}}}
            for status in ("queued", "running", "completed")
        ]
    )
    # The API noted its own part: the compute service's is its own.
    _upgrade(mongo, database_name)

    _upgrade_the_compute_services_runs(mongo, database_name)
    executions.insert_one(
        {"_id": "new", "status": "queued", "request": {"strategy": {"rules": OLD_RULES}}}
    )
    _upgrade_the_compute_services_runs(mongo, database_name)

    rules = {d["_id"]: d["request"]["strategy"]["rules"] for d in executions.find()}
    assert rules == {
        "queued": UPGRADED_RULES,
        "running": UPGRADED_RULES,
        "completed": OLD_RULES,  # finished: never run again
        "new": OLD_RULES,  # asked after the upgrade: roc is percent
    }
    client.close()


def test_rocp_is_the_fraction_roc_was() -> None:
    close = np.array([100.0, 104.0, 102.0, 110.0, 99.0, 121.0])
    bars = Bars(
        time=np.arange(len(close), dtype=np.int64) * 86_400,
        open=close,
        high=close,
        low=close,
        close=close,
        volume=np.ones(len(close)),
    )
    evaluator = RuleEvaluator(bars, {})
    upgraded = parse_rule(with_roc_as_a_fraction("roc(close, 2) > 0"), {})
    as_percent = parse_rule("roc(close, 2) > 0", {})

    assert isinstance(upgraded, Binary)
    assert isinstance(as_percent, Binary)
    fraction = np.asarray(evaluator.value(upgraded.left))
    percent = np.asarray(evaluator.value(as_percent.left))

    expected = np.array([np.nan, np.nan, 0.02, 110 / 104 - 1, 99 / 102 - 1, 0.1])
    np.testing.assert_allclose(fraction, expected, rtol=1e-12)
    np.testing.assert_allclose(percent, expected * 100, rtol=1e-12)
