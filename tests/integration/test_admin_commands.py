"""The admin commands find the database of the stack whose data folder they are given
(or the MongoDB named by --mongo-url), never another stack's, however many stacks run on
the machine; when nothing answers they say what they tried, in one line and a hint."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import Mongo, run_botclub
from pymongo.database import Database

from backend.stores.users import USERS_COLLECTION
from backend_services.market_data.importer import import_table
from backend_services.market_data.table_files import read_sample
from botclub.local_stack import free_port
from botclub.stack_file import RunningStack, write_stack
from shared.contracts.market_data import ImportOptions
from shared.market_data.catalog import CATALOG_COLLECTION, SYSTEM_OWNER
from shared.mongo import Document, sync_client

pytestmark = pytest.mark.integration

# No MongoDB address from the environment unless a test sets one.
NO_MONGO_URL = {"MONGO_URL": ""}


@pytest.fixture
def two_stacks(mongo: Mongo, tmp_path: Path) -> Iterator[dict[str, Database[Document]]]:
    """Two stacks on one machine, each with its data folder (`one/.data`, `two/.data`)
    and database; this test process stands for their `botclub run`."""
    client = sync_client(mongo.url)
    databases = {}
    for name in ("one", "two"):
        database = client[f"{mongo.database_name}_{name}_{uuid.uuid4().hex[:6]}"]
        stack = RunningStack(
            pid=os.getpid(), mongo_url=mongo.url, mongo_db=database.name, api_url="http://x"
        )
        write_stack(tmp_path / name / ".data", stack)
        databases[name] = database
    try:
        yield databases
    finally:
        for database in databases.values():
            client.drop_database(database.name)
        client.close()


def user_names(database: Database[Document]) -> list[str]:
    return sorted(user["name"] for user in database[USERS_COLLECTION].find())


def test_each_admin_command_works_on_the_stack_of_the_data_folder_it_is_given(
    two_stacks: dict[str, Database[Document]], tmp_path: Path
) -> None:
    by_folder = run_botclub(tmp_path, NO_MONGO_URL, "create-user", "ann", "--data-dir", "one/.data")
    by_default = run_botclub(tmp_path / "two", NO_MONGO_URL, "create-user", "bob")
    samples = run_botclub(tmp_path, NO_MONGO_URL, "load-samples", "--data-dir", "two/.data")

    assert by_folder.returncode == 0, by_folder.stderr
    assert by_default.returncode == 0, by_default.stderr
    assert samples.returncode == 0, samples.stderr
    assert user_names(two_stacks["one"]) == ["ann"]
    assert user_names(two_stacks["two"]) == ["bob"]
    assert two_stacks["one"][CATALOG_COLLECTION].count_documents({}) == 0
    owners = {entry["owner_id"] for entry in two_stacks["two"][CATALOG_COLLECTION].find()}
    assert owners == {SYSTEM_OWNER}


def test_a_data_folder_given_wins_over_mongo_url_and_mongo_url_flag_over_both(
    two_stacks: dict[str, Database[Document]], mongo: Mongo, tmp_path: Path
) -> None:
    elsewhere = {"MONGO_URL": mongo.url, "MONGO_DB": two_stacks["two"].name}

    folder = run_botclub(tmp_path, elsewhere, "create-user", "ann", "--data-dir", "one/.data")
    environment = run_botclub(tmp_path / "one", elsewhere, "create-user", "bob")
    flag = run_botclub(
        tmp_path, {**elsewhere, "MONGO_URL": f"mongodb://127.0.0.1:{free_port()}"},
        "create-user", "cy", "--data-dir", "one/.data", "--mongo-url", mongo.url,
    )  # fmt: skip

    for run in (folder, environment, flag):
        assert run.returncode == 0, run.stderr
    assert user_names(two_stacks["one"]) == ["ann"]
    assert user_names(two_stacks["two"]) == ["bob", "cy"]


def test_with_no_stack_in_the_folder_they_say_what_they_tried(tmp_path: Path) -> None:
    folder = tmp_path / ".data"
    nothing = run_botclub(tmp_path, NO_MONGO_URL, "create-user", "ann")
    given = run_botclub(tmp_path, {"MONGO_URL": "mongodb://ignored"}, "load-samples",
                        "--data-dir", "elsewhere")  # fmt: skip
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    write_stack(folder, RunningStack(pid=gone.pid, mongo_url="x", mongo_db="x", api_url="x"))
    stale = run_botclub(tmp_path, NO_MONGO_URL, "create-user", "ann")

    other_ways = "name a running stack's data folder (--data-dir D) or MongoDB (--mongo-url URL)"
    assert nothing.returncode == given.returncode == stale.returncode == 6
    assert nothing.stderr.splitlines() == [
        f"error: no stack is running from {folder} (no {folder}/stack.json), "
        "and MONGO_URL is not set",
        f"hint: start it with `botclub run --data-dir .data`, or {other_ways}",
    ]
    assert given.stderr.splitlines()[0] == (
        f"error: no stack is running from {tmp_path}/elsewhere (no {tmp_path}/elsewhere/stack.json)"
    )
    assert stale.stderr.splitlines()[0] == (
        f"error: the stack that ran from {folder} (pid {gone.pid}) has ended, "
        "and MONGO_URL is not set"
    )


def test_a_mongodb_that_does_not_answer_is_named_in_one_line(tmp_path: Path) -> None:
    closed = f"mongodb://127.0.0.1:{free_port()}"

    started = time.monotonic()
    run = run_botclub(tmp_path, {"MONGO_URL": closed}, "create-user", "alice")

    assert run.returncode == 6
    assert time.monotonic() - started < 15
    assert run.stderr.splitlines() == [
        f"error: no MongoDB answers at {closed} (MONGO_URL)",
        "hint: name a running stack's data folder (--data-dir D) or MongoDB (--mongo-url URL)",
    ]


def test_botclub_run_refuses_a_data_folder_a_running_stack_uses(tmp_path: Path) -> None:
    write_stack(
        tmp_path / ".data",
        RunningStack(pid=os.getpid(), mongo_url="x", mongo_db="x", api_url="http://api"),
    )

    refused = run_botclub(tmp_path, NO_MONGO_URL, "run", "--port", str(free_port()),
                          "--services-port", str(free_port()))  # fmt: skip

    assert refused.returncode == 1
    assert refused.stderr.splitlines()[0] == (
        f"error: a stack is already running from {tmp_path}/.data (pid {os.getpid()}, API "
        "http://api); stop it first, or give another --data-dir"
    )


def test_samples_stored_before_they_had_an_owner_are_given_the_system(
    mongo: Mongo, tmp_path: Path
) -> None:
    client = sync_client(mongo.url)
    database = client[f"{mongo.database_name}_unowned_{uuid.uuid4().hex[:6]}"]
    try:
        import_table(database, read_sample("GOOG"), ImportOptions(symbol="GOOG"))
        loaded = run_botclub(
            tmp_path, {"MONGO_DB": database.name}, "load-samples", "--mongo-url", mongo.url
        )

        assert loaded.returncode == 0, loaded.stderr
        assert loaded.stdout.startswith("EURUSD: ")  # GOOG was stored already
        owners = {entry["_id"]: entry["owner_id"] for entry in database[CATALOG_COLLECTION].find()}
        assert owners == {"GOOG": SYSTEM_OWNER, "EURUSD": SYSTEM_OWNER}
    finally:
        client.drop_database(database.name)
        client.close()
