"""The one error path: whatever a route or a middleware raises is answered in the one
error shape, and the connection that carried it keeps serving."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Annotated

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel, Field, ValidationError
from pymongo.errors import AutoReconnect, NetworkTimeout, ServerSelectionTimeoutError

from botclub.local_stack import free_port
from shared.contracts.common import Symbol
from shared.errors import TooManyRequests, invalid_in_words
from shared.web.errors import error_body
from shared.web.setup import set_up_app


class _Strict(BaseModel):
    count: Annotated[int, Field(gt=0)]


def _app() -> FastAPI:
    app = FastAPI()
    set_up_app(app, "a-secret", max_concurrent_requests=4, exempt_paths=())

    @app.get("/fails")
    async def fails() -> None:
        raise RuntimeError("a fault of ours")

    @app.get("/validates-badly")
    async def validates_badly() -> _Strict:
        return _Strict.model_validate({"count": -1})

    @app.get("/mongo/{kind}")
    async def mongo_fails(kind: str) -> None:
        kinds = {
            "auto-reconnect": AutoReconnect("connection closed"),
            "server-selection": ServerSelectionTimeoutError("no server"),
            "network-timeout": NetworkTimeout("timed out"),
        }
        raise kinds[kind]

    @app.get("/throttled")
    async def throttled() -> None:
        raise TooManyRequests("too many failed sign-ins", retry_after_s=42)

    @app.get("/fine")
    async def fine() -> dict[str, str]:
        return {"status": "fine"}

    return app


@pytest.fixture(scope="module")
def served() -> Iterator[str]:
    """The app under uvicorn, on loopback, in a thread."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(_app(), host="127.0.0.1", port=port, lifespan="off", log_level="critical")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.mark.parametrize("path", ["/fails", "/validates-badly"])
def test_an_unexpected_error_answers_500_and_the_connection_keeps_serving(
    served: str, path: str
) -> None:
    with httpx.Client(base_url=served) as client:
        failed = client.get(path)
        after = [client.get("/fine") for _ in range(3)]

    assert failed.status_code == 500
    assert failed.json() == {"detail": "internal error", "errors": [], "report": None}
    assert [answer.status_code for answer in after] == [200, 200, 200]


@pytest.mark.parametrize("kind", ["auto-reconnect", "server-selection", "network-timeout"])
def test_every_mongodb_outage_answers_503_with_retry_after(served: str, kind: str) -> None:
    answer = httpx.get(f"{served}/mongo/{kind}")

    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "5"
    assert answer.json()["detail"] == "database unavailable, try again shortly"


def test_a_throttled_call_says_when_to_try_again(served: str) -> None:
    answer = httpx.get(f"{served}/throttled")

    assert answer.status_code == 429
    assert answer.headers["Retry-After"] == "42"


class _Named(BaseModel):
    symbol: Symbol
    count: Annotated[int, Field(gt=0)]


def test_refusals_are_in_words_without_patterns_or_prefixes() -> None:
    try:
        _Named.model_validate({"symbol": "a b", "count": 0})
    except ValidationError as error:
        refused = error_body(error.errors())

    messages = [field["msg"] for field in refused["errors"]]
    assert "^" not in refused["detail"]
    assert "pydantic" not in refused["detail"]
    assert not any(message.startswith("Value error") for message in messages)
    assert messages[1] == "Input should be greater than 0"


def test_a_failed_run_is_told_in_words_never_in_pydantic_s_own_text() -> None:
    try:
        _Named.model_validate({"symbol": "a b", "count": 0.5})
    except ValidationError as invalid:
        told = invalid_in_words(invalid)

    assert told == (
        "symbol: a symbol name is letters, digits, '.', '_' and '-', starting with a "
        "letter or a digit (e.g. GOOG, EURUSD, BRK.B); "
        "count: Input should be a valid integer, got a number with a fractional part"
    )
    assert "errors.pydantic.dev" not in told
