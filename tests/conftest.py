"""Fixtures: a real MongoDB wire server and both services as real processes, started once
per session, plus factories for users, strategies and backtests.

MongoDB is MONGO_URL when it answers, otherwise the embedded nx-27017 on a free port.
Each session works in a database of its own, dropped at the end.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from browser_pages import PASSWORD, TIMEOUT_MS, chromium_path
from helpers import (
    CLUB_ORIGIN,
    Mongo,
    Stack,
    import_long_symbol,
    member_clients,
    strategy_fields,
)
from pymongo import MongoClient
from pymongo.database import Database

from backend.services.passwords import set_password
from backend.stores.tokens import issue_token
from backend.stores.users import USERS_COLLECTION
from backend_services.market_data.importer import load_missing_samples
from backend_services.market_data.store import ensure_indexes
from botclub.local_stack import free_port, mongo_reachable, start_embedded_mongo
from shared.mongo import Document, sync_client
from shared.signing import ServiceSignature


@pytest.fixture(scope="session")
def logs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("logs")


@pytest.fixture(scope="session")
def mongo(tmp_path_factory: pytest.TempPathFactory, logs_dir: Path) -> Iterator[Mongo]:
    database_name = f"botclub_test_{uuid.uuid4().hex[:8]}"
    url = os.environ.get("MONGO_URL", "")
    process = None
    if not (url and mongo_reachable(url)):
        port = free_port()
        process = start_embedded_mongo(tmp_path_factory.mktemp("mongo"), port, logs_dir)
        url = f"mongodb://127.0.0.1:{port}"
    yield Mongo(url=url, database_name=database_name, process=process)
    if process is not None:
        process.stop()
    else:
        client: MongoClient[Document] = MongoClient(url)
        client.drop_database(database_name)
        client.close()


@pytest.fixture(scope="session")
def db(mongo: Mongo) -> Iterator[Database[Document]]:
    client = sync_client(mongo.url)
    database = client[mongo.database_name]
    ensure_indexes(database)
    load_missing_samples(database)
    yield database
    client.close()


@pytest.fixture(scope="session")
def stack(mongo: Mongo, db: Database[Document], logs_dir: Path) -> Iterator[Stack]:
    """Both services, shared by the tests that leave them running."""
    services = Stack(
        mongo_url=mongo.url,
        database_name=mongo.database_name,
        logs_dir=logs_dir,
        secret=uuid.uuid4().hex,
        extra_env={
            "WORKERS": "2",
            "MAX_UPLOAD_MB": "2",
            # Short enough for the slow-client tests to watch them act.
            "HEADER_TIMEOUT_S": "2",
            "BODY_TIMEOUT_S": "2",
            "CORS_ORIGINS": CLUB_ORIGIN,
            # Every test signs in from 127.0.0.1: generated wrong sign-ins must not lock
            # the dashboard's tests out (tests/integration/test_sign_in.py tests the bounds).
            "SIGN_IN_FAILURES_PER_ADDRESS": "100000",
        },
    )
    services.start_backend_services()
    services.start_backend()
    yield services
    services.stop()


@pytest.fixture
def new_client(stack: Stack, db: Database[Document]) -> Iterator[Callable[[], httpx.Client]]:
    """Factory: an API client authenticated as a brand-new user."""
    with member_clients(db[USERS_COLLECTION], stack.api_url) as make:
        yield make


@pytest.fixture
def api(new_client: Callable[[], httpx.Client]) -> httpx.Client:
    return new_client()


@pytest.fixture(scope="session")
def api_token(db: Database[Document]) -> str:
    """A token of one member shared by a whole session (for generated requests)."""
    _, token = issue_token(db[USERS_COLLECTION], f"session-{uuid.uuid4().hex[:8]}")
    return token


@pytest.fixture
def compute(stack: Stack) -> Iterator[httpx.Client]:
    """A client of the compute service that signs like the backend does."""
    with httpx.Client(
        base_url=stack.services_url, auth=ServiceSignature(stack.secret), timeout=30
    ) as client:
        yield client


@pytest.fixture
def create_strategy(api: httpx.Client) -> Callable[..., dict[str, Any]]:
    def create(**overrides: Any) -> dict[str, Any]:
        response = api.post("/api/strategy", json=strategy_fields(**overrides))
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    return create


@pytest.fixture(scope="session")
def long_symbol(db: Database[Document]) -> str:
    return import_long_symbol(db)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    path = chromium_path()
    if path is None:
        hint = "install Debian's chromium (apt-get install chromium) or set CHROMIUM_PATH"
        if os.environ.get("CI") == "true":
            pytest.fail(f"no Chromium on this machine: {hint}")
        pytest.skip(f"no Chromium on this machine: {hint}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=path, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def member(db: Database[Document]) -> tuple[str, str]:
    """A member with a password, and their token (for the API's side of the checks)."""
    name = f"browser-{uuid.uuid4().hex[:8]}"
    user, token = issue_token(db[USERS_COLLECTION], name)
    set_password(db[USERS_COLLECTION], user, PASSWORD)
    return name, token


@pytest.fixture
def page(browser: Any, stack: Stack) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    opened = context.new_page()
    opened.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    opened.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.goto(stack.api_url + "/")
    opened.console_errors = errors  # a test expecting a refusal takes its line out
    yield opened
    context.close()
    assert errors == [], errors
