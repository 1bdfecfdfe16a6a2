"""A backtest's progress pushed over Server-Sent Events and a WebSocket, with real
processes: in order, resumable, refused without the owner's token, one watcher however
many follow, and ended by completion, cancellation and failure alike."""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from helpers import (
    Stack,
    backtest_params,
    long_run_params,
    long_sweep_params,
    wait_for_backtest,
    wait_for_idle_workers,
)
from pymongo.database import Database
from websockets.exceptions import ConnectionClosedError
from websockets.sync.client import connect

from backend.stores.tokens import TOKENS_COLLECTION
from shared.contracts.common import utc_now
from shared.mongo import Document

pytestmark = pytest.mark.integration

Event = dict[str, Any]


def events_of(api: httpx.Client, backtest_id: str, **headers: str) -> list[Event]:
    """Every event of the backtest's SSE stream, read until the server ends it."""
    events = []
    with api.stream(
        "GET", f"/api/backtest/{backtest_id}/events", headers=headers, timeout=60
    ) as stream:
        assert stream.status_code == 200, stream.read()
        assert stream.headers["content-type"].startswith("text/event-stream")
        fields: dict[str, str] = {}
        for line in stream.iter_lines():
            if not line:
                if "data" in fields:
                    event = json.loads(fields["data"])
                    assert fields["id"] == str(event["id"])
                    assert fields["event"] == ("final" if event["final"] else "progress")
                    events.append(event)
                fields = {}
            elif not line.startswith(":"):
                name, _, value = line.partition(": ")
                fields[name] = value
    return events


def start_long_backtest(
    api: httpx.Client, create_strategy: Callable[..., dict[str, Any]], long_symbol: str
) -> dict[str, Any]:
    """An optimization of the long series: seconds of progress, cached bars or not."""
    strategy = create_strategy(symbol=long_symbol, timeframe="1m")
    started = api.post(f"/api/strategy/{strategy['id']}/optimize", json=long_sweep_params())
    assert started.status_code == 202, started.text
    body: dict[str, Any] = started.json()
    return body


def test_sse_streams_every_change_in_order_and_ends_with_the_final_state(
    api: httpx.Client, create_strategy: Callable[..., dict[str, Any]], long_symbol: str
) -> None:
    backtest = start_long_backtest(api, create_strategy, long_symbol)

    events = events_of(api, backtest["id"])

    ids = [event["id"] for event in events]
    assert ids == sorted(set(ids))
    progress = [event["progress"] for event in events]
    assert progress == sorted(progress)
    assert len({event["status"] for event in events}) >= 2
    running = [event for event in events if event["status"] == "running"]
    assert any(event["eta_s"] is not None for event in running)
    *before, final = events
    assert not any(event["final"] for event in before)
    assert (final["final"], final["status"], final["progress"]) == (True, "completed", 100.0)
    completed = api.get(f"/api/backtest/{backtest['id']}").json()
    assert final["statistics"]["total_trades"] == completed["result"]["total_trades"]
    assert final["statistics"]["total_return"] == completed["result"]["total_return"]


def test_a_stream_resumes_after_the_last_event_seen(
    api: httpx.Client, create_strategy: Callable[..., dict[str, Any]]
) -> None:
    strategy = create_strategy()
    started = api.post(f"/api/strategy/{strategy['id']}/backtest", json=backtest_params())
    wait_for_backtest(api, started.json()["id"])

    [final] = events_of(api, started.json()["id"])
    resumed_before = events_of(api, started.json()["id"], **{"Last-Event-ID": "5"})
    resumed_after = events_of(api, started.json()["id"], **{"Last-Event-ID": str(final["id"])})

    assert final["final"] is True
    assert resumed_before == [final]
    assert resumed_after == []


def test_streams_refuse_without_the_owners_token(
    stack: Stack,
    new_client: Callable[[], httpx.Client],
    create_strategy: Callable[..., dict[str, Any]],
    api: httpx.Client,
) -> None:
    strategy = create_strategy()
    backtest = api.post(f"/api/strategy/{strategy['id']}/backtest", json=backtest_params())
    path = f"/api/backtest/{backtest.json()['id']}"
    stranger = new_client()
    socket_url = stack.api_url.replace("http://", "ws://") + path + "/ws"
    own_token = api.headers["Authorization"].removeprefix("Bearer ")
    stranger_token = stranger.headers["Authorization"].removeprefix("Bearer ")

    anonymous = httpx.get(stack.api_url + path + "/events")
    foreign = stranger.get(path + "/events")
    closes = {
        name: closed_with(socket_url, first)
        for name, first in {
            "no sign-in": "hello",
            "bad token": json.dumps({"token": "bcb_nope"}),
            "another member": json.dumps({"token": stranger_token}),
        }.items()
    }

    assert anonymous.status_code == 401
    assert foreign.status_code == 404
    assert closes == {"no sign-in": 4401, "bad token": 4401, "another member": 4404}
    assert closed_with(socket_url, json.dumps({"token": own_token})) == 1000


def socket_session(url: str, first_message: str) -> tuple[list[Event], int | None]:
    """The messages a socket receives after `first_message`, and its close code."""
    received: list[Event] = []
    with connect(url, open_timeout=10) as socket:
        socket.send(first_message)
        with contextlib.suppress(ConnectionClosedError):  # closed with a 4xxx code
            for message in socket:  # ends at a normal close
                received.append(json.loads(message))
        return received, socket.close_code


def closed_with(url: str, first_message: str) -> int | None:
    return socket_session(url, first_message)[1]


def test_the_socket_carries_the_same_events(
    stack: Stack,
    api: httpx.Client,
    create_strategy: Callable[..., dict[str, Any]],
    long_symbol: str,
) -> None:
    backtest = start_long_backtest(api, create_strategy, long_symbol)
    token = api.headers["Authorization"].removeprefix("Bearer ")
    url = stack.api_url.replace("http://", "ws://") + f"/api/backtest/{backtest['id']}/ws"

    received, code = socket_session(url, json.dumps({"token": token}))

    assert code == 1000
    assert [event["id"] for event in received] == sorted({event["id"] for event in received})
    assert received[-1]["final"] is True
    assert received[-1]["status"] == "completed"
    assert received[0]["status"] in ("pending", "queued", "running")


def test_subscribers_never_make_the_api_ask_the_compute_service(
    stack: Stack,
    api: httpx.Client,
    create_strategy: Callable[..., dict[str, Any]],
    long_symbol: str,
) -> None:
    backtest = start_long_backtest(api, create_strategy, long_symbol)
    subscribers = 12
    streams: list[list[Event]] = [[] for _ in range(subscribers)]

    def follow(into: list[Event]) -> None:
        into += events_of(api, backtest["id"])

    started = time.monotonic()
    threads = [threading.Thread(target=follow, args=(events,)) for events in streams]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    elapsed = time.monotonic() - started

    execution_id = api.get(f"/api/backtest/{backtest['id']}").json()["execution_id"]
    log = (stack.logs_dir / "backend_services.log").read_text()
    polls = len(re.findall(rf"GET /backtest/{execution_id}/status", log))
    # Every change was pushed to the API: nothing on the way read on a timer.
    assert polls == 0, (polls, elapsed)
    assert all(len(events) > 2 for events in streams), "progress arrived while it ran"
    assert all(events[-1]["final"] for events in streams)
    assert len({events[-1]["id"] for events in streams}) == 1


def test_the_stream_ends_when_the_backtest_is_cancelled(
    api: httpx.Client, create_strategy: Callable[..., dict[str, Any]], long_symbol: str
) -> None:
    backtest = start_long_backtest(api, create_strategy, long_symbol)
    followed: list[Event] = []
    follower = threading.Thread(target=lambda: followed.extend(events_of(api, backtest["id"])))
    follower.start()
    wait_for_backtest(api, backtest["id"], until=lambda b: b["status"] == "running")

    api.delete(f"/api/backtest/{backtest['id']}")
    follower.join(30)

    assert not follower.is_alive()
    assert followed[-1]["final"] is True
    assert followed[-1]["status"] == "cancelled"


def test_the_stream_ends_when_the_backtest_fails(
    api: httpx.Client, create_strategy: Callable[..., dict[str, Any]]
) -> None:
    # Rules that need no history, so the range is not refused before the run.
    strategy = create_strategy(rules={"long_entry": "close > open", "long_exit": "close < open"})
    # Saturday to Sunday: no trading day, so the run fails.
    params = backtest_params(start_date="2010-01-02T00:00:00Z", end_date="2010-01-03T00:00:00Z")
    started = api.post(f"/api/strategy/{strategy['id']}/backtest", json=params).json()

    events = events_of(api, started["id"])

    assert events[-1]["final"] is True
    assert events[-1]["status"] == "failed"
    assert "a backtest needs at least 2" in events[-1]["error"]


@pytest.mark.parametrize("ending", ["revoked", "expired"])
def test_streams_end_within_seconds_of_their_token_ending(
    stack: Stack,
    api: httpx.Client,
    db: Database[Document],
    create_strategy: Callable[..., dict[str, Any]],
    long_symbol: str,
    ending: str,
) -> None:
    strategy = create_strategy(symbol=long_symbol, timeframe="1m")
    # Minutes of work (cancelled at the end), so the token ends the streams, not the run.
    grid = {"fast": list(range(100, 400)), "slow": [800, 900, 1000]}
    params = long_run_params() | {"sweep": {"grid": grid}}
    backtest = api.post(f"/api/strategy/{strategy['id']}/optimize", json=params).json()
    issued = api.post("/api/tokens", json={"name": "follower"}).json()
    expires_at = utc_now() + timedelta(seconds=5)
    if ending == "expired":  # before its first use, so no cache has seen another expiry
        db[TOKENS_COLLECTION].update_one(
            {"_id": issued["id"]}, {"$set": {"expires_at": expires_at}}
        )
    follower = httpx.Client(
        base_url=stack.api_url, headers={"Authorization": f"Bearer {issued['token']}"}
    )
    url = stack.api_url.replace("http://", "ws://") + f"/api/backtest/{backtest['id']}/ws"
    sse_lines: list[str] = []
    socket_closed: list[int | None] = []

    def follow_sse() -> None:
        with follower.stream("GET", f"/api/backtest/{backtest['id']}/events", timeout=60) as r:
            sse_lines.extend(r.iter_lines())

    def follow_socket() -> None:
        socket_closed.append(closed_with(url, json.dumps({"token": issued["token"]})))

    threads = [threading.Thread(target=follow_sse), threading.Thread(target=follow_socket)]
    for thread in threads:
        thread.start()
    wait_for_backtest(api, backtest["id"], until=lambda b: b["status"] == "running")
    if ending == "revoked":
        assert api.delete(f"/api/tokens/{issued['id']}").status_code == 200
        ended = time.monotonic()
    else:
        ended = time.monotonic() + (expires_at - utc_now()).total_seconds()
    for thread in threads:
        thread.join(30)
    ended_after_s = time.monotonic() - ended

    assert ended_after_s < 6, ended_after_s
    assert api.get(f"/api/backtest/{backtest['id']}").json()["status"] == "running"
    assert "event: signed_out" in sse_lines
    assert socket_closed == [4401]
    api.delete(f"/api/backtest/{backtest['id']}")
    wait_for_idle_workers(stack.services_url)  # the run stopped: free for the next tests
