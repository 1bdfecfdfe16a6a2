"""Hostile and broken clients: bad input gets a 4xx naming what is wrong, never a 5xx;
slow clients cost the server nothing others need; unsigned calls are refused from their
headers."""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from helpers import Stack, backtest_params, strategy_fields, wait_for_backtest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.signing import NONCE_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER

pytestmark = pytest.mark.integration


def _raw_post(api: httpx.Client, path: str, body: str) -> httpx.Response:
    return api.post(path, content=body.encode(), headers={"Content-Type": "application/json"})


_VALID_STRATEGY = json.dumps(strategy_fields())


@pytest.mark.parametrize("hostile", ["NaN", "Infinity", "-Infinity", "1e400"])
@pytest.mark.parametrize(
    ("template", "field"),
    [
        ('{"name": "x", "symbol": "GOOG", "parameters": {"fast": %s, "slow": 30}}', "fast"),
        ('{"name": "x", "symbol": "GOOG", "costs": {"commission_pct": %s}}', "commission_pct"),
        (
            '{"name": "x", "symbol": "GOOG", "orders": {"sizing": {"kind": "fixed_cash", '
            '"value": %s}}}',
            "value",
        ),
        ('{"name": "x", "symbol": "GOOG", "orders": {"stop_loss_pct": %s}}', "stop_loss_pct"),
    ],
)
def test_non_finite_numbers_get_422_naming_the_field(
    api: httpx.Client, template: str, field: str, hostile: str
) -> None:
    response = _raw_post(api, "/api/strategy", template % hostile)

    assert response.status_code == 422
    assert field in json.dumps(response.json()["errors"])
    # The connection is still good for the next request.
    assert api.get("/api/strategy").status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('{"name": "\\ud800", "symbol": "GOOG"}', "name"),
        ('{"name": "x", "symbol": "\\ud800"}', "symbol"),
        ('{"name": "x", "symbol": "GOOG", "rules": {"long_entry": "close > \\udfff"}}', "rules"),
        ('{"name": "x", "symbol": "GOOG", "parameters": {"\\ud800": 1}}', "parameters"),
    ],
)
def test_lone_surrogates_get_422(api: httpx.Client, body: str, field: str) -> None:
    response = _raw_post(api, "/api/strategy", body)

    assert response.status_code == 422
    assert field in json.dumps(response.json()["errors"])


@pytest.mark.parametrize(
    "params",
    [
        backtest_params(initial_capital="10000"),
        backtest_params(initial_capital=True),
        backtest_params(parameters={"fast": "10"}),
        backtest_params(parameters={"fast": True}),
        backtest_params(costs={"commission_pct": "0.001"}),
    ],
)
def test_strings_and_booleans_are_not_numbers(
    api: httpx.Client, create_strategy: Callable[..., dict[str, Any]], params: dict[str, Any]
) -> None:
    strategy = create_strategy()

    response = api.post(f"/api/strategy/{strategy['id']}/backtest", json=params)

    assert response.status_code == 422


def test_non_finite_backtest_and_sweep_numbers_get_422(
    api: httpx.Client, create_strategy: Callable[..., dict[str, Any]]
) -> None:
    strategy = create_strategy()
    backtest = json.dumps(backtest_params())[:-1] + ', "initial_capital": NaN}'
    sweep = json.dumps(backtest_params())[:-1] + ', "sweep": {"grid": {"fast": [5, Infinity]}}}'

    assert _raw_post(api, f"/api/strategy/{strategy['id']}/backtest", backtest).status_code == 422
    assert _raw_post(api, f"/api/strategy/{strategy['id']}/optimize", sweep).status_code == 422


_HOSTILE_LEAVES = st.sampled_from(
    [
        "NaN",
        "Infinity",
        "-Infinity",
        "1e400",
        '"\\ud800"',
        '"10"',
        "true",
        "null",
        "[]",
        "{}",
        '"' + "x" * 5000 + '"',
        "-1e308",
        "0",
        "[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]",
    ]
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    path=st.sampled_from(["/api/strategy", "backtest", "optimize"]),
    leaf=_HOSTILE_LEAVES,
    position=st.integers(min_value=0, max_value=30),
)
def test_hostile_leaves_anywhere_never_get_a_5xx(
    api: httpx.Client,
    create_strategy: Callable[..., dict[str, Any]],
    path: str,
    leaf: str,
    position: int,
) -> None:
    if path == "/api/strategy":
        body = strategy_fields(orders={"stop_loss_pct": 0.1}, costs={"commission_pct": 0.001})
    else:
        strategy = create_strategy()
        body = backtest_params(parameters={"fast": 5}, costs={"commission_pct": 0.001})
        if path == "optimize":
            body["sweep"] = {"grid": {"fast": [5, 10]}, "objective": "sharpe_ratio"}
        path = f"/api/strategy/{strategy['id']}/{path}"
    text = _replace_a_leaf(json.dumps(body), leaf, position)

    response = _raw_post(api, path, text)

    assert response.status_code < 500, response.text
    assert "detail" in response.json() or response.status_code in (201, 202)


def _replace_a_leaf(document: str, leaf: str, position: int) -> str:
    """`document` with its `position`-th scalar value (modulo their count) replaced."""
    parsed = json.loads(document)
    leaves: list[tuple[Any, Any]] = []

    def walk(node: Any) -> None:
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in list(items):
            if isinstance(value, dict | list):
                walk(value)
            else:
                leaves.append((node, key))

    walk(parsed)
    marker = "@@hostile@@"
    container, key = leaves[position % len(leaves)]
    container[key] = marker
    return json.dumps(parsed).replace(json.dumps(marker), leaf)


@pytest.mark.parametrize(
    # Superscript two, 5,000 digits, a sign, a float, hex, a suffix, Arabic-Indic digits.
    "timestamp",
    ["\u00b2", "1" * 5000, "-5", "1.5e9", "0x10", "1700000000x", "\u0661\u0667" + "\u0660" * 8],
)
@pytest.mark.parametrize(
    ("service", "path"), [("api", "/api/backtest/save_result"), ("compute", "/backtest/run")]
)
def test_malformed_signature_headers_get_401(
    stack: Stack, service: str, path: str, timestamp: str
) -> None:
    base = stack.api_url if service == "api" else stack.services_url
    headers = {
        TIMESTAMP_HEADER.encode(): timestamp.encode(),
        NONCE_HEADER.encode(): b"b" * 32,
        SIGNATURE_HEADER.encode(): b"a" * 64,
    }

    response = httpx.post(f"{base}{path}", content=b"{}", headers=headers)

    assert response.status_code == 401


def test_a_malformed_unsigned_body_is_refused_as_unsigned(stack: Stack) -> None:
    for url in (f"{stack.api_url}/api/backtest/save_result", f"{stack.services_url}/backtest/run"):
        response = httpx.post(
            url, content=b"{not json", headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 401


def _send_headers(port: int, head: bytes) -> socket.socket:
    connection = socket.create_connection(("127.0.0.1", port), timeout=10)
    connection.sendall(head)
    return connection


def _answer(connection: socket.socket) -> bytes:
    chunks = []
    with contextlib.suppress(OSError):
        while chunk := connection.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_an_unsigned_60_mib_callback_is_refused_before_its_body(stack: Stack) -> None:
    head = (
        b"POST /api/backtest/save_result HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/json\r\nContent-Length: 62914560\r\n\r\n"
    )
    started = time.perf_counter()
    connection = _send_headers(stack.api_port, head)  # and not a byte of body

    answer = _answer(connection)
    elapsed = time.perf_counter() - started
    connection.close()

    assert answer.startswith(b"HTTP/1.1 401")
    assert elapsed < 1.0


@contextlib.contextmanager
def _trickling_clients(port: int, path: str, count: int) -> Iterator[list[socket.socket]]:
    """`count` connections that declare a 100 kB body and send one byte of it."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: 100000\r\n\r\n{"
    ).encode()
    connections = [_send_headers(port, head) for _ in range(count)]
    try:
        yield connections
    finally:
        for connection in connections:
            connection.close()


def test_slow_bodies_hold_no_slot_others_need(
    stack: Stack, api: httpx.Client, create_strategy: Callable[..., dict[str, Any]]
) -> None:
    strategy = create_strategy()
    with _trickling_clients(stack.api_port, "/api/strategy", 24):
        started = time.perf_counter()
        listed = api.get("/api/strategy")
        elapsed = time.perf_counter() - started
        submitted = api.post(f"/api/strategy/{strategy['id']}/backtest", json=backtest_params())

    assert listed.status_code == 200
    assert elapsed < 1.0
    assert submitted.status_code == 202
    assert wait_for_backtest(api, submitted.json()["id"])["status"] == "completed"


def test_a_body_that_stops_arriving_gets_408(stack: Stack) -> None:
    with _trickling_clients(stack.api_port, "/api/strategy", 1) as (connection,):
        answer = _answer(connection)

    assert answer.startswith(b"HTTP/1.1 408")


def test_headers_that_stop_arriving_close_the_connection(stack: Stack) -> None:
    connection = _send_headers(stack.api_port, b"GET /api/strategy HTTP/1.1\r\nHost: x\r\n")
    started = time.perf_counter()

    answer = _answer(connection)  # ends when the server closes the connection
    connection.close()

    assert answer == b""
    assert 1.0 < time.perf_counter() - started < 10.0


def test_one_address_cannot_hold_every_connection(stack: Stack) -> None:
    connections = [socket.create_connection(("127.0.0.1", stack.api_port)) for _ in range(70)]
    try:
        refused = connections[-1]
        refused.sendall(b"GET /api/health/live HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = refused.recv(4096)
    finally:
        for connection in connections:
            connection.close()

    assert answer.startswith(b"HTTP/1.1 503")
    assert httpx.get(f"{stack.api_url}/api/health/live").status_code == 200


def test_liveness_and_readiness(stack: Stack) -> None:
    for base, health in ((stack.api_url, "/api/health"), (stack.services_url, "/health")):
        assert httpx.get(f"{base}{health}/live").json() == {"status": "alive"}
        ready = httpx.get(f"{base}{health}/ready")
        assert ready.status_code == 200
        assert ready.json()["status"] in ("ok", "degraded")
        assert set(ready.json()["dependencies"]) >= {"mongo", "storage"}
