"""Calls between the services must carry a fresh, valid signature over method, path,
query and body, with a nonce used once: else 401, and nothing changes."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from helpers import Mongo, Stack, stack_of_its_own

from shared.signing import (
    NONCE_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    ServiceSignature,
    SignedRequest,
    compute_signature,
)

pytestmark = pytest.mark.integration

BODY = b'{"execution_id": "e", "backtest_id": "b", "status": "failed", "error": "x"}'


def _headers(
    secret: str,
    path: str,
    timestamp: int,
    query: bytes = b"",
    method: str = "POST",
    body: bytes = BODY,
) -> dict[str, str]:
    nonce = secrets.token_hex(16)
    signed = SignedRequest(method, path, query, str(timestamp), nonce, body)
    return {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: str(timestamp),
        NONCE_HEADER: nonce,
        SIGNATURE_HEADER: compute_signature(secret, signed),
    }


@pytest.mark.parametrize(
    ("service", "path"),
    [("api", "/api/backtest/save_result"), ("compute", "/backtest/run")],
)
def test_unsigned_forged_and_stale_calls_get_401(stack: Stack, service: str, path: str) -> None:
    base = stack.api_url if service == "api" else stack.services_url
    now = int(time.time())
    attempts = {
        "unsigned": {"Content-Type": "application/json"},
        "forged": _headers("not-the-secret", path, now),
        "stale": _headers(stack.secret, path, now - 301),
        "tampered path": _headers(stack.secret, path + "x", now),
        "other method": _headers(stack.secret, path, now, method="PUT"),
    }
    for name, headers in attempts.items():
        response = httpx.post(f"{base}{path}", content=BODY, headers=headers)
        assert response.status_code == 401, name
        assert "signature" in response.json()["detail"]


def test_a_correctly_signed_call_passes_the_check(stack: Stack) -> None:
    path = "/api/backtest/save_result"
    response = httpx.post(
        f"{stack.api_url}{path}",
        content=BODY,
        headers=_headers(stack.secret, path, int(time.time())),
    )

    assert response.status_code == 404  # signature accepted; backtest "b" does not exist


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"execution_id": "e", "backtest_id": "b", "status": "completed"}', "must carry"),
        (b'{"execution_id": "e", "backtest_id": "b", "status": "running"}', "final status"),
        (b'{"execution_id": "e", "backtest_id": "b", "status": "failed", "progress": 101}', "100"),
        (b'{"execution_id": "e", "backtest_id": ', "JSON"),
    ],
)
def test_a_signed_final_state_that_is_not_one_is_refused_in_words(
    stack: Stack, body: bytes, reason: str
) -> None:
    path = "/api/backtest/save_result"
    response = httpx.post(
        f"{stack.api_url}{path}",
        content=body,
        headers=_headers(stack.secret, path, int(time.time()), body=body),
    )

    assert response.status_code == 422
    assert reason in response.json()["detail"]
    assert "{" not in response.json()["detail"]  # in words, not the body echoed


@pytest.mark.parametrize(
    ("service", "path"),
    [("api", "/api/backtest/save_result"), ("compute", "/backtest/run")],
)
def test_a_captured_request_replayed_is_refused(stack: Stack, service: str, path: str) -> None:
    base = stack.api_url if service == "api" else stack.services_url
    captured = _headers(stack.secret, path, int(time.time()))

    first = httpx.post(f"{base}{path}", content=BODY, headers=captured)
    replays = [httpx.post(f"{base}{path}", content=BODY, headers=captured) for _ in range(3)]

    assert first.status_code != 401
    for replay in replays:
        assert replay.status_code == 401
        assert "replayed" in replay.json()["detail"]


@pytest.fixture(scope="module")
def restartable(mongo: Mongo, logs_dir: Path) -> Iterator[Stack]:
    """Both services, in a database of their own, for a test to restart."""
    with stack_of_its_own(mongo, logs_dir, "replays") as pair:
        pair.start_backend_services()
        pair.start_backend()
        yield pair


@pytest.mark.parametrize(
    ("service", "path"),
    [("api", "/api/backtest/save_result"), ("compute", "/backtest/run")],
)
def test_a_captured_request_replayed_after_a_restart_is_refused(
    restartable: Stack, service: str, path: str
) -> None:
    base = restartable.api_url if service == "api" else restartable.services_url
    captured = _headers(restartable.secret, path, int(time.time()))
    first = httpx.post(f"{base}{path}", content=BODY, headers=captured)

    receiver = restartable.backend if service == "api" else restartable.backend_services
    assert receiver is not None
    receiver.stop()
    if service == "api":
        restartable.start_backend()
    else:
        restartable.start_backend_services()
    replay = httpx.post(f"{base}{path}", content=BODY, headers=captured)

    assert first.status_code != 401
    assert replay.status_code == 401
    assert "replayed" in replay.json()["detail"]


def test_the_query_string_is_signed(stack: Stack) -> None:
    """A signed call whose query is changed on the way is refused, the original not."""
    path = "/market-data/NOSUCH"
    now = int(time.time())
    signed = _headers(stack.secret, path, now, b"owner_id=alice", "DELETE", body=b"")
    tampered = _headers(stack.secret, path, now, b"owner_id=alice", "DELETE", body=b"")

    original = httpx.delete(f"{stack.services_url}{path}?owner_id=alice", headers=signed)
    changed = httpx.delete(f"{stack.services_url}{path}?owner_id=mallory", headers=tampered)

    assert original.status_code == 404  # accepted: there is no such symbol
    assert changed.status_code == 401
    assert changed.json()["detail"] == "invalid service signature"


def test_the_services_own_client_signs_queries_and_nonces(stack: Stack) -> None:
    with httpx.Client(base_url=stack.services_url, auth=ServiceSignature(stack.secret)) as client:
        answers = [client.delete("/market-data/NOSUCH", params={"owner_id": "a"}) for _ in "ab"]

    assert [answer.status_code for answer in answers] == [404, 404]
