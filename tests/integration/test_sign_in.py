"""Signing in under attack: failed sign-ins are throttled per name and per address (429
with Retry-After, the password unchecked), and a flood of sign-ins holds none of the
request slots members with a token need (password checks have a pool of their own)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from helpers import Mongo, Stack, stack_of_its_own
from pymongo.database import Database

from backend.services.passwords import set_password
from backend.stores.tokens import issue_token
from backend.stores.users import USERS_COLLECTION
from shared.mongo import Document, sync_client

pytestmark = pytest.mark.integration

PASSWORD = "the right password"
WRONG = "not the password"


@pytest.fixture
def own_api(mongo: Mongo, logs_dir: Path, stack: Stack) -> Iterator[Stack]:
    """An API (not started) with a database of its own; the session's compute service."""
    suffix = f"sign_in_{uuid.uuid4().hex[:6]}"
    with stack_of_its_own(
        mongo, logs_dir, suffix, secret=stack.secret, services_port=stack.services_port
    ) as api:
        yield api


@pytest.fixture
def sign_in_db(own_api: Stack) -> Iterator[Database[Document]]:
    client = sync_client(own_api.mongo_url)
    yield client[own_api.database_name]
    client.close()


@pytest.fixture
def api_with(own_api: Stack) -> Callable[[dict[str, str]], str]:
    """Starts the API with the given settings; its address."""

    def start(env: dict[str, str]) -> str:
        own_api.extra_env = env
        own_api.start_backend()
        return own_api.api_url

    return start


def _member(database: Database[Document], name: str) -> str:
    user, token = issue_token(database[USERS_COLLECTION], name)
    set_password(database[USERS_COLLECTION], user, PASSWORD)
    return token


def _sign_in(api_url: str, name: str, password: str) -> httpx.Response:
    return httpx.post(
        f"{api_url}/api/session", json={"name": name, "password": password}, timeout=60
    )


def test_failed_sign_ins_for_a_name_are_throttled_with_retry_after(
    api_with: Callable[[dict[str, str]], str], sign_in_db: Database[Document]
) -> None:
    _member(sign_in_db, "alice")
    _member(sign_in_db, "bob")
    api_url = api_with({"SIGN_IN_FAILURES_PER_NAME": "3", "SIGN_IN_FAILURES_PER_ADDRESS": "50"})

    failures = [_sign_in(api_url, "alice", WRONG).status_code for _ in range(3)]
    throttled = _sign_in(api_url, "alice", PASSWORD)  # even the right password
    other_member = _sign_in(api_url, "bob", PASSWORD)

    assert failures == [401, 401, 401]
    assert throttled.status_code == 429
    assert 1 <= int(throttled.headers["Retry-After"]) <= 15 * 60
    assert "too many failed sign-ins" in throttled.json()["detail"]
    assert other_member.status_code == 201


def test_a_burst_of_concurrent_guesses_gets_no_more_tries_than_the_bound(
    api_with: Callable[[dict[str, str]], str], sign_in_db: Database[Document]
) -> None:
    _member(sign_in_db, "erin")
    api_url = api_with({"SIGN_IN_FAILURES_PER_NAME": "3", "SIGN_IN_FAILURES_PER_ADDRESS": "50"})

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: _sign_in(api_url, "erin", WRONG), range(8)))

    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [401] * 3 + [429] * 5


def test_failed_sign_ins_from_an_address_are_throttled_whatever_the_names(
    api_with: Callable[[dict[str, str]], str], sign_in_db: Database[Document]
) -> None:
    _member(sign_in_db, "carol")
    api_url = api_with({"SIGN_IN_FAILURES_PER_NAME": "3", "SIGN_IN_FAILURES_PER_ADDRESS": "6"})

    sprayed = [_sign_in(api_url, f"guess-{index}", WRONG).status_code for index in range(6)]
    throttled = _sign_in(api_url, "carol", PASSWORD)

    assert sprayed == [401] * 6
    assert throttled.status_code == 429
    assert int(throttled.headers["Retry-After"]) >= 1


def test_a_flood_of_sign_ins_holds_no_slot_members_need(
    api_with: Callable[[dict[str, str]], str], sign_in_db: Database[Document]
) -> None:
    token = _member(sign_in_db, "dave")
    api_url = api_with(
        {
            "MAX_CONCURRENT_REQUESTS": "2",
            "SIGN_IN_FAILURES_PER_NAME": "1000",
            "SIGN_IN_FAILURES_PER_ADDRESS": "1000",
        }
    )
    answers: list[httpx.Response] = []
    lock = threading.Lock()

    def attempt(index: int) -> None:
        answer = _sign_in(api_url, f"flood-{index}", WRONG)
        with lock:
            answers.append(answer)

    flood = [threading.Thread(target=attempt, args=(index,)) for index in range(40)]
    for thread in flood:
        thread.start()
    me = httpx.get(f"{api_url}/api/me", headers={"Authorization": f"Bearer {token}"}, timeout=60)
    with lock:
        answered_before_me = len(answers)
    for thread in flood:
        thread.join(120)

    assert me.status_code == 200
    # Checked one at a time on a thread of their own, most sign-ins were still waiting
    # when the member was answered.
    assert answered_before_me < 20
    statuses = sorted(answer.status_code for answer in answers)
    assert set(statuses) <= {401, 503}
    assert statuses.count(401) >= 33  # one checked, 32 waiting: the rest refused at once
    refused = [answer for answer in answers if answer.status_code == 503]
    assert all(answer.headers["Retry-After"] == "5" for answer in refused)
