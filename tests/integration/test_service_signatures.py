"""Calls between the services must carry a fresh, valid signature: else 401, no change."""

from __future__ import annotations

import time

import httpx
import pytest
from helpers import Stack

from shared.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, compute_signature

pytestmark = pytest.mark.integration

BODY = b'{"execution_id": "e", "backtest_id": "b", "status": "failed", "error": "x"}'


def _headers(secret: str, path: str, timestamp: int) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: compute_signature(secret, "POST", path, str(timestamp), BODY),
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
        "tampered": _headers(stack.secret, path + "x", now),
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
