"""A stack for one benchmark run: the embedded MongoDB (unless MONGO_URL answers, then a
throw-away database there) with the samples, a user, and both services on free ports."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pymongo.database import Database

from backend.stores.tokens import issue_token
from backend.stores.users import USERS_COLLECTION
from backend_services.market_data.importer import load_missing_samples
from backend_services.market_data.store import ensure_indexes
from botclub.local_stack import (
    ChildProcess,
    free_port,
    mongo_reachable,
    start_embedded_mongo,
    start_service,
)
from shared.mongo import Document, sync_client


@dataclass(frozen=True)
class ThrowawayStack:
    api_url: str
    api_port: int
    token: str
    database: Database[Document]
    # The compute service's environment and log folder (for workers a bench starts).
    compute_env: dict[str, str]
    work: Path
    services_url: str


@contextmanager
def throwaway_stack(
    name: str, env: dict[str, str], compute_env: dict[str, str] | None = None
) -> Iterator[ThrowawayStack]:
    """Started on entry, stopped (and its database dropped) on exit; `env` goes to both
    services, `compute_env` to the compute service only."""
    work = Path(tempfile.mkdtemp(prefix=f"botclub-{name}-"))
    database_name = f"botclub_{name}_{uuid.uuid4().hex[:8]}"
    children: list[ChildProcess] = []
    mongo_url = os.environ.get("MONGO_URL", "")
    try:
        if not (mongo_url and mongo_reachable(mongo_url)):
            port = free_port()
            children.append(start_embedded_mongo(work / "mongo", port, work))
            mongo_url = f"mongodb://127.0.0.1:{port}"
        client = sync_client(mongo_url)
        database = client[database_name]
        ensure_indexes(database)
        load_missing_samples(database)
        _, token = issue_token(database[USERS_COLLECTION], name)
        api_port, services_port = free_port(), free_port()
        common = {"MONGO_URL": mongo_url, "MONGO_DB": database_name} | env
        common |= {"SERVICE_SECRET": uuid.uuid4().hex}
        api_url = f"http://127.0.0.1:{api_port}"
        services_env = (
            common
            | {"API_SERVICE_URL": api_url, "MARKET_DATA_FILES_DIR": str(work / "bars")}
            | (compute_env or {})
        )
        services_url = f"http://127.0.0.1:{services_port}"
        children.append(start_service("backend_services", services_port, services_env, work))
        backend_env = common | {"BACKEND_SERVICES_URL": services_url}
        children.append(start_service("backend", api_port, backend_env, work))
        yield ThrowawayStack(api_url, api_port, token, database, services_env, work, services_url)
        if mongo_url == os.environ.get("MONGO_URL"):
            client.drop_database(database_name)
        client.close()
    finally:
        for child in reversed(children):
            child.stop()
