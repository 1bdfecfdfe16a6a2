"""Every command a client of `shared.mongo` sends to MongoDB is counted by name, and the
counts reach /metrics: the round trips a backtest costs are measured, not estimated."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

from helpers import Mongo
from prometheus_client import REGISTRY

from shared.metrics import exposition
from shared.metrics_dir import METRICS_DIR_VARIABLE
from shared.mongo import async_client, sync_client

_LOADED_BY_THE_SERVER = """
import sys
import shared.mongo, shared.web.serve
print("prometheus_client" in sys.modules)
"""


# A service's process tree in small: the folder chosen first, then a child process (as a
# worker is) sends one command, and the parent's exposition counts it.
_COUNTED_ACROSS_THE_TREE = """
import multiprocessing, sys
from shared.metrics_dir import share_metrics_with_children
share_metrics_with_children()
from shared.metrics import exposition
from shared.metrics_dir import METRICS_DIR_VARIABLE
from shared.mongo import sync_client

def one_find(url, database):
    client = sync_client(url)
    client[database]["tree"].find_one({})
    client.close()

if __name__ == "__main__":
    child = multiprocessing.get_context("spawn").Process(target=one_find, args=sys.argv[1:])
    child.start()
    child.join(60)
    print(exposition().decode())
"""


def _sent(command: str) -> float:
    return REGISTRY.get_sample_value("botclub_mongo_commands_total", {"command": command}) or 0.0


def _collection_name() -> str:
    return f"commands_{uuid.uuid4().hex[:8]}"


def test_each_command_of_the_synchronous_client_is_counted_once(mongo: Mongo) -> None:
    client = sync_client(mongo.url)
    collection = client[mongo.database_name][_collection_name()]
    try:
        inserts, finds, updates = _sent("insert"), _sent("find"), _sent("update")

        collection.insert_one({"n": 1})
        collection.find_one({"n": 1})
        collection.update_one({"n": 1}, {"$set": {"n": 2}})
        collection.find_one({"n": 2})

        assert (_sent("insert") - inserts, _sent("find") - finds) == (1, 2)
        assert _sent("update") - updates == 1
    finally:
        collection.drop()
        client.close()


def test_a_cursor_read_in_batches_counts_a_round_trip_per_batch(mongo: Mongo) -> None:
    client = sync_client(mongo.url)
    collection = client[mongo.database_name][_collection_name()]
    try:
        collection.insert_many([{"n": n} for n in range(250)])
        finds, more = _sent("find"), _sent("getMore")

        read = list(collection.find({}).batch_size(100))

        assert len(read) == 250
        assert (_sent("find") - finds, _sent("getMore") - more) == (1, 2)
    finally:
        collection.drop()
        client.close()


async def test_each_command_of_the_asynchronous_client_is_counted_once(mongo: Mongo) -> None:
    client = async_client(mongo.url)
    collection = client[mongo.database_name][_collection_name()]
    try:
        inserts, finds = _sent("insert"), _sent("find")

        await collection.insert_one({"n": 1})
        await collection.find_one({"n": 1})

        assert (_sent("insert") - inserts, _sent("find") - finds) == (1, 1)
    finally:
        await collection.drop()
        await client.close()


def test_the_counts_are_exposed_with_the_other_metrics(mongo: Mongo) -> None:
    client = sync_client(mongo.url)
    try:
        client[mongo.database_name][_collection_name()].find_one({})
    finally:
        client.close()

    text = exposition().decode()

    assert 'botclub_mongo_commands_total{command="find"}' in text


def test_importing_the_client_factory_leaves_prometheus_client_unloaded() -> None:
    """A server process imports `shared.mongo` (through the contracts) before it chooses
    the metrics folder its process tree shares; prometheus_client must wait for that."""
    loaded = subprocess.run(
        [sys.executable, "-c", _LOADED_BY_THE_SERVER],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout

    assert loaded.split() == ["False"]


def test_commands_of_a_child_process_are_counted_by_its_parent(
    mongo: Mongo, tmp_path: Path
) -> None:
    script = tmp_path / "tree.py"
    script.write_text(_COUNTED_ACROSS_THE_TREE)
    environment = {k: v for k, v in os.environ.items() if k != METRICS_DIR_VARIABLE}

    text = subprocess.run(
        [sys.executable, str(script), mongo.url, mongo.database_name],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
        env=environment,
    ).stdout

    assert 'botclub_mongo_commands_total{command="find"} 1.0' in text
