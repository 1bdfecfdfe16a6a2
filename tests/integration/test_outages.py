"""Dependencies failing under a service: the compute service failing in every way it can
leaves the API's readiness answering 200 `degraded`, and MongoDB out of reach makes
every call of both services answer 503 with Retry-After. No failure reaches the server
as an exception, so the connection that carried it serves the next request."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers import (
    Mongo,
    Stack,
    backtest_params,
    stack_of_its_own,
    strategy_fields,
    wait_for,
)

from backend.stores.tokens import issue_token
from backend.stores.users import USERS_COLLECTION
from backend_services.market_data.importer import load_missing_samples
from backend_services.market_data.store import ensure_indexes
from botclub.local_stack import free_port, start_embedded_mongo
from shared.mongo import sync_client
from shared.signing import ServiceSignature

pytestmark = pytest.mark.integration

_READY_REPORT = {
    "status": "ok",
    "mongo": True,
    "checked_at": "2026-11-30T09:00:00Z",
    "dependencies": {"mongo": {"state": "up", "checked_at": None, "latency_ms": 1.0}},
}
# How the fake compute service answers GET /health: a status and a body, or None to
# leave the request unanswered.
Answer = tuple[int, bytes] | None
_ANSWERS: dict[str, Answer] = {
    "ready": (200, json.dumps(_READY_REPORT).encode()),
    "reports itself down": (503, json.dumps(_READY_REPORT | {"status": "down"}).encode()),
    "answers 500": (500, b'{"detail": "internal error", "errors": [], "report": null}'),
    "answers 502 in HTML": (502, b"<html><body>Bad Gateway</body></html>"),
    "answers a JSON list": (200, b"[1, 2, 3]"),
    "answers a report of the wrong shape": (200, b'{"status": 7, "mongo": "yes"}'),
    "answers nothing": None,
}


class FakeComputeService:
    """A compute service on loopback whose health answer a test chooses, or that stops
    listening altogether."""

    def __init__(self) -> None:
        self.port = free_port()
        self.answer: Answer = _ANSWERS["ready"]
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                answer = fake.answer
                if answer is None:
                    time.sleep(30)  # longer than the API's client waits
                    return
                status, body = answer
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


@pytest.fixture(scope="module")
def fake_compute() -> Iterator[FakeComputeService]:
    fake = FakeComputeService()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def api_over_fake_compute(
    mongo: Mongo, logs_dir: Path, fake_compute: FakeComputeService
) -> Iterator[Stack]:
    """The API alone, in a database of its own, its compute service the fake one."""
    with stack_of_its_own(mongo, logs_dir, "outages", services_port=fake_compute.port) as api:
        api.start_backend()
        yield api


def _health(probe: httpx.Client) -> dict[str, Any]:
    response = probe.get("/api/health")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.parametrize("failure", [name for name in _ANSWERS if name != "ready"] + ["is down"])
def test_readiness_is_degraded_however_the_compute_service_fails(
    api_over_fake_compute: Stack, fake_compute: FakeComputeService, failure: str
) -> None:
    with httpx.Client(base_url=api_over_fake_compute.api_url, timeout=10) as probe:
        wait_for(lambda: _health(probe), lambda health: health["status"] == "ok", 30)
        if failure == "is down":
            fake_compute.stop()
        else:
            fake_compute.answer = _ANSWERS[failure]
        try:
            health = wait_for(
                lambda: _health(probe), lambda health: health["status"] == "degraded", 30
            )
            # Every probe on the same connection keeps answering, the plain path and the
            # readiness path alike.
            answers = [probe.get(path) for path in ("/api/health/ready", "/api/health") * 3]
        finally:
            fake_compute.answer = _ANSWERS["ready"]
            if failure == "is down":
                fake_compute.start()

    assert health["dependencies"]["backend_services"]["state"] in ("slow", "down")
    assert [answer.status_code for answer in answers] == [200] * 6
    assert {answer.json()["status"] for answer in answers} == {"degraded"}
    if failure == "reports itself down":
        assert health["backend_services"]["status"] == "down"
    else:
        assert health["backend_services"] in (None, _READY_REPORT)


@pytest.fixture
def stack_on_a_mongodb_to_stop(
    mongo: Mongo, logs_dir: Path, tmp_path: Path
) -> Iterator[tuple[Stack, Callable[[], None], str]]:
    """Both services on an embedded MongoDB of their own, a member's token, and a way to
    stop that MongoDB."""
    if mongo.process is None:
        pytest.skip("MONGO_URL points at an external MongoDB, which this test cannot stop")
    port = free_port()
    server = start_embedded_mongo(tmp_path / "mongo", port, logs_dir)
    url = f"mongodb://127.0.0.1:{port}"
    client = sync_client(url)
    database = client["bot_club_outage"]
    ensure_indexes(database)
    load_missing_samples(database)
    _, token = issue_token(database[USERS_COLLECTION], "outage-member")
    client.close()
    pair = Stack(mongo_url=url, database_name=database.name, logs_dir=logs_dir, secret="s" * 32)
    try:
        pair.start_backend_services()
        pair.start_backend()
        yield pair, server.stop, token
    finally:
        pair.stop()
        server.stop()


def test_mongodb_out_of_reach_answers_503_with_retry_after_on_both_services(
    stack_on_a_mongodb_to_stop: tuple[Stack, Callable[[], None], str],
) -> None:
    pair, stop_mongo, token = stack_on_a_mongodb_to_stop
    api = httpx.Client(
        base_url=pair.api_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    compute = httpx.Client(
        base_url=pair.services_url, auth=ServiceSignature(pair.secret), timeout=30
    )
    created = api.post("/api/strategy", json=strategy_fields())
    assert created.status_code == 201, created.text
    start_path = f"/api/strategy/{created.json()['id']}/backtest"

    stop_mongo()
    answers = {
        "start a backtest": api.post(start_path, json=backtest_params()),
        "start one, idempotently": api.post(
            start_path, json=backtest_params(), headers={"Idempotency-Key": uuid.uuid4().hex}
        ),
        "list strategies": api.get("/api/strategy"),
        "an execution's status": compute.get(f"/backtest/{uuid.uuid4()}/status"),
    }
    alive = [api.get("/api/health/live"), compute.get("/health/live")]
    api.close()
    compute.close()

    for call, answer in answers.items():
        assert answer.status_code == 503, (call, answer.text)
        assert answer.headers["Retry-After"] == "5", call
        assert answer.json()["detail"] == "database unavailable, try again shortly", call
    # The connections that carried the failures still serve.
    assert [answer.status_code for answer in alive] == [200, 200]
