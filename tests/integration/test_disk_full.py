"""A full disk is reported, not hidden: writes answer 507 saying so, readiness says the
service cannot work, and everything works again once space is freed."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from helpers import Stack, strategy_fields, wait_for
from pymongo.database import Database
from pymongo.errors import OperationFailure

from backend.stores.tokens import issue_token
from backend.stores.users import USERS_COLLECTION
from backend_services.market_data.importer import load_missing_samples
from botclub.local_stack import ChildProcess, free_port, start_embedded_mongo
from shared.mongo import Document, out_of_disk_space, sync_client

pytestmark = pytest.mark.integration

DISK_MB = 24


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs of DISK_MB for MongoDB's files (mounting needs root, as CI has)."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_MB}m", "tmpfs", str(mount_point)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        if os.environ.get("CI") == "true":
            pytest.fail(f"cannot mount a tmpfs: {mounted.stderr.decode()}")
        pytest.skip("mounting a small disk needs root (run as root, as CI does)")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=False)


@pytest.fixture
def stack_on_small_disk(small_disk: Path, logs_dir: Path) -> Iterator[tuple[Stack, str, Path]]:
    port = free_port()
    mongo: ChildProcess = start_embedded_mongo(small_disk / "mongo", port, logs_dir)
    pair = Stack(
        mongo_url=f"mongodb://127.0.0.1:{port}",
        database_name="bot_club_db",
        logs_dir=logs_dir,
        secret=uuid.uuid4().hex,
        extra_env={"WORKERS": "1"},
    )
    try:
        pair.start_backend_services()
        pair.start_backend()
        yield pair, pair.mongo_url, small_disk
    finally:
        pair.stop()
        mongo.stop()


def _grow(disk: Path) -> None:
    subprocess.run(
        ["mount", "-o", f"remount,size={DISK_MB * 4}m", str(disk)], check=True, capture_output=True
    )


def _fill_the_disk(database: Database[Document]) -> OperationFailure | None:
    """Documents of shrinking sizes until even small ones are refused; the last refusal."""
    refusal = None
    for size in (60_000, 4_000, 400, 40):
        for number in range(DISK_MB * 1024 * 1024 // size * 2):
            try:
                database["filler"].insert_one({"n": number, "bytes": "f" * size})
            except OperationFailure as refused:
                refusal = refused
                break
    return refusal


def test_a_full_disk_answers_507_and_readiness_says_down_until_space_is_freed(
    stack_on_small_disk: tuple[Stack, str, Path],
) -> None:
    stack, mongo_url, disk = stack_on_small_disk
    client = sync_client(mongo_url)
    database = client["bot_club_db"]
    load_missing_samples(database)  # a strategy is saved only for a symbol with bars
    _, token = issue_token(database[USERS_COLLECTION], "filler")
    api = httpx.Client(base_url=stack.api_url, headers={"Authorization": f"Bearer {token}"})
    assert api.post("/api/strategy", json=strategy_fields()).status_code == 201

    refusal = _fill_the_disk(database)
    assert refusal is not None
    assert out_of_disk_space(refusal)

    refused = api.post("/api/strategy", json=strategy_fields())
    assert refused.status_code == 507
    assert "disk space" in refused.json()["detail"]
    ready = wait_for(
        lambda: httpx.get(f"{stack.api_url}/api/health/ready").json(),
        lambda health: health["status"] == "down",
        15,
    )
    assert ready["dependencies"]["storage"]["state"] == "down"
    assert httpx.get(f"{stack.api_url}/api/health/live").status_code == 200

    _grow(disk)  # space is freed

    assert api.post("/api/strategy", json=strategy_fields()).status_code == 201
    wait_for(
        lambda: httpx.get(f"{stack.api_url}/api/health/ready").json(),
        lambda health: health["status"] in ("ok", "degraded"),
        15,
    )
    assert len(api.get("/api/strategy").json()) == 2
    api.close()
    client.close()
