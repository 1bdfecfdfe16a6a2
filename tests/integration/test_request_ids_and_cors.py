"""Every request has an id that both services log and the execution keeps; an access
line per request without the health chatter; browsers of allowed origins only."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from helpers import CLUB_ORIGIN, Stack, backtest_params, wait_for_backtest
from pymongo.database import Database

from shared.mongo import Document

pytestmark = pytest.mark.integration


def log_lines(stack: Stack, service: str, containing: str, timeout_s: float = 5.0) -> list[str]:
    """The lines of a service's log holding `containing`, waiting for the first."""
    deadline = time.monotonic() + timeout_s
    while True:
        text = (stack.logs_dir / f"{service}.log").read_text(errors="replace")
        lines = [line for line in text.splitlines() if containing in line]
        if lines or time.monotonic() > deadline:
            return lines
        time.sleep(0.1)


def test_a_request_id_is_made_and_echoed(api: httpx.Client) -> None:
    first, second = api.get("/api/strategy"), api.get("/api/strategy")

    made = {first.headers["X-Request-ID"], second.headers["X-Request-ID"]}
    assert len(made) == 2
    assert all(len(request_id) == 32 for request_id in made)


def test_a_clients_request_id_is_kept_and_a_strange_one_replaced(api: httpx.Client) -> None:
    kept = api.get("/api/strategy", headers={"X-Request-ID": "trace-4bf92f3577b34da6"})
    replaced = api.get("/api/strategy", headers={"X-Request-ID": "no spaces\tor tabs"})

    assert kept.headers["X-Request-ID"] == "trace-4bf92f3577b34da6"
    assert replaced.headers["X-Request-ID"] not in ("no spaces\tor tabs", "")


def test_one_request_id_ties_both_services_logs_and_the_execution(
    api: httpx.Client,
    stack: Stack,
    db: Database[Document],
    create_strategy: Callable[..., dict[str, Any]],
) -> None:
    strategy = create_strategy()
    request_id = f"member-run-{time.monotonic_ns()}"

    started = api.post(
        f"/api/strategy/{strategy['id']}/backtest",
        json=backtest_params(),
        headers={"X-Request-ID": request_id},
    ).json()
    finished = wait_for_backtest(api, started["id"])

    execution = db["executions"].find_one({"_id": finished["execution_id"]})
    assert execution is not None
    assert execution["request_id"] == request_id
    lines = log_lines(stack, "backend", f"request_id={request_id}")
    [submit] = [
        line for line in lines if f"POST /api/strategy/{strategy['id']}/backtest 202" in line
    ]
    assert f"user={api.get('/api/me').json()['id']}" in submit
    # The compute service's delivery of the result names the same request.
    assert any("POST /api/backtest/save_result 200" in line for line in lines)
    [received] = log_lines(stack, "backend_services", f"request_id={request_id}")
    assert "POST /backtest/run 202" in received


def test_health_probes_are_not_logged_unless_they_fail(stack: Stack) -> None:
    marker = f"probe-{time.monotonic_ns()}"
    for path in ("/api/health", "/api/health/live", "/api/health/ready"):
        httpx.get(stack.api_url + path, headers={"X-Request-ID": marker})
    unknown = httpx.get(stack.api_url + "/api/strategy", headers={"X-Request-ID": marker})

    assert unknown.status_code == 401
    [line] = log_lines(stack, "backend", f"request_id={marker}")
    assert "GET /api/strategy 401" in line
    # Nor is the backend's own check of the compute service's health, every second.
    assert log_lines(stack, "backend", "/health ", timeout_s=0) == []


def test_a_preflight_from_an_allowed_origin_is_answered(stack: Stack) -> None:
    preflight = httpx.options(
        stack.api_url + "/api/strategy",
        headers={
            "Origin": CLUB_ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    refused = httpx.get(stack.api_url + "/api/strategy", headers={"Origin": CLUB_ORIGIN})

    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == CLUB_ORIGIN
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert "authorization" in preflight.headers["Access-Control-Allow-Headers"].lower()
    # Even a refusal is readable by the page, with its request id.
    assert refused.status_code == 401
    assert refused.headers["Access-Control-Allow-Origin"] == CLUB_ORIGIN
    assert "X-Request-ID" in refused.headers["Access-Control-Expose-Headers"]


def test_a_preflight_from_another_origin_is_refused(stack: Stack) -> None:
    preflight = httpx.options(
        stack.api_url + "/api/strategy",
        headers={"Origin": "https://evil.example.com", "Access-Control-Request-Method": "POST"},
    )
    plain = httpx.get(stack.api_url + "/api/health", headers={"Origin": "https://evil.example.com"})

    assert preflight.status_code == 400
    assert "Access-Control-Allow-Origin" not in preflight.headers
    assert "Access-Control-Allow-Origin" not in plain.headers
