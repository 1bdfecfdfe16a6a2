"""BacktestServiceClient against a mocked transport (respx): requests and error mapping."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import respx

from backend.services.backtest_client import (
    BacktestServiceClient,
    BacktestServiceRejected,
    BacktestServiceUnavailable,
)
from shared.contracts.backtests import BacktestParams
from shared.contracts.executions import RunBacktestRequest
from shared.contracts.strategies import Costs, StrategySnapshot
from shared.signing import (
    NONCE_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SignedRequest,
    compute_signature,
)

BASE = "http://compute.test"
SECRET = "s3cret"
EXECUTION = {
    "id": "e1",
    "backtest_id": "b1",
    "user_id": "u1",
    "strategy_id": "s1",
    "status": "running",
    "progress": 42.0,
    "created_at": "2024-01-01T00:00:00Z",
    "start_time": "2024-01-01T00:00:01Z",
}
REQUEST = RunBacktestRequest(
    backtest_id="b1",
    user_id="u1",
    strategy=StrategySnapshot(
        id="s1",
        name="x",
        symbol="GOOG",
        timeframe="1d",
        costs=Costs(),
    ),
    params=BacktestParams.model_validate({"start_date": "2010-01-01", "end_date": "2011-01-01"}),
)


@pytest.fixture
async def client() -> AsyncIterator[BacktestServiceClient]:
    client = BacktestServiceClient(BASE, SECRET)
    yield client
    await client.aclose()


@respx.mock
async def test_start_backtest_posts_a_signed_request(client: BacktestServiceClient) -> None:
    route = respx.post(f"{BASE}/backtest/run").respond(
        202, json={"execution_id": "e1", "status": "queued"}
    )

    accepted = await client.start_backtest(REQUEST)

    assert accepted.execution_id == "e1"
    sent = route.calls.last.request
    assert json.loads(sent.content)["backtest_id"] == "b1"
    signed = SignedRequest(
        "POST",
        "/backtest/run",
        b"",
        sent.headers[TIMESTAMP_HEADER],
        sent.headers[NONCE_HEADER],
        sent.content,
    )
    assert sent.headers[SIGNATURE_HEADER] == compute_signature(SECRET, signed)


@respx.mock
async def test_every_call_has_a_new_nonce_and_its_query_signed(
    client: BacktestServiceClient,
) -> None:
    route = respx.get(f"{BASE}/backtest/e1/trades").respond(
        200, json={"total": 0, "offset": 5, "trades": []}
    )

    await client.get_trades("e1", 5, 7)
    await client.get_trades("e1", 5, 7)

    first, second = (call.request for call in route.calls)
    assert first.headers[NONCE_HEADER] != second.headers[NONCE_HEADER]
    signed = SignedRequest(
        "GET",
        "/backtest/e1/trades",
        b"offset=5&limit=7",
        first.headers[TIMESTAMP_HEADER],
        first.headers[NONCE_HEADER],
        b"",
    )
    assert first.headers[SIGNATURE_HEADER] == compute_signature(SECRET, signed)


@respx.mock
async def test_status_is_parsed_into_an_execution(client: BacktestServiceClient) -> None:
    respx.get(f"{BASE}/backtest/e1/status").respond(200, json=EXECUTION)

    execution = await client.get_backtest_status("e1")

    assert execution.progress == 42.0
    assert execution.status == "running"


@respx.mock
@pytest.mark.parametrize(
    "outcome",
    [
        httpx.Response(503, json={"detail": "busy"}),
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
    ],
)
async def test_unreachable_or_failing_service_is_unavailable(
    client: BacktestServiceClient, outcome: httpx.Response | Exception
) -> None:
    respx.post(f"{BASE}/backtest/run").mock(side_effect=[outcome])

    with pytest.raises(BacktestServiceUnavailable):
        await client.start_backtest(REQUEST)


@respx.mock
async def test_cancel_of_a_finished_execution_is_rejected_with_409(
    client: BacktestServiceClient,
) -> None:
    body: dict[str, Any] = {"detail": "already completed", "errors": [], "report": None}
    respx.delete(f"{BASE}/backtest/e1").respond(409, json=body)

    with pytest.raises(BacktestServiceRejected) as rejected:
        await client.cancel_backtest("e1")

    assert rejected.value.status_code == 409
    assert rejected.value.detail == body  # relayed whole to the member


@respx.mock
async def test_health_returns_the_report_even_when_degraded(
    client: BacktestServiceClient,
) -> None:
    respx.get(f"{BASE}/health").respond(503, json={"status": "degraded", "mongo": False})

    assert await client.health() == {"status": "degraded", "mongo": False}


def test_timeouts_are_explicit() -> None:
    timeout = BacktestServiceClient(BASE, SECRET)._http.timeout

    assert timeout.connect == 3.0
    assert timeout.read == 10.0


@pytest.mark.parametrize(
    ("failure", "said"),
    [
        (httpx.ConnectError("All connection attempts failed"), "All connection attempts failed"),
        (httpx.ReadTimeout(""), "ReadTimeout"),
    ],
)
@respx.mock
async def test_unreachable_is_said_in_words_not_as_a_repr(
    client: BacktestServiceClient, failure: httpx.HTTPError, said: str
) -> None:
    respx.get(f"{BASE}/backtest/e1/status").mock(side_effect=failure)

    with pytest.raises(BacktestServiceUnavailable) as raised:
        await client.get_backtest_status("e1")

    assert raised.value.detail == f"compute service unreachable: {said}"
