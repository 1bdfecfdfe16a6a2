"""A backtest's progress, pushed: Server-Sent Events for curl and simple clients, and a
WebSocket for pages. Both carry the same events (`progress_stream.ProgressEvent`) and end
after the final one.

A browser cannot put a header on a WebSocket, and a token in its URL would be written
to every access log on the way: the socket's first message carries the token instead.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, WebSocket, WebSocketDisconnect
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field, ValidationError

from backend.deps import BacktestStoreDep, OwnedBacktest, ProgressHubDep, TokenStoreDep
from backend.progress_stream import ProgressEvent, ProgressHub
from backend.schemas import Backtest
from shared.errors import NotFound, Unauthorized
from shared.web.errors import responses_for

__all__ = ["router"]

# A comment line this often keeps proxies from closing a quiet stream.
KEEP_ALIVE_S = 15.0
# How long a socket may take to send its token.
SIGN_IN_TIMEOUT_S = 5.0
# Close codes: the 4000 range is the application's, mirroring the HTTP statuses.
CLOSE_UNAUTHORIZED, CLOSE_NOT_FOUND, CLOSE_TIMEOUT = 4401, 4404, 4408

router = APIRouter(
    prefix="/api/backtest",
    tags=["backtests"],
    responses=responses_for(Unauthorized, NotFound),
)


@router.get(
    "/{backtest_id}/events",
    summary="Follow a backtest's progress (Server-Sent Events)",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "An event stream: `progress` events, then one `final` event.",
            "content": {
                "text/event-stream": {
                    "example": 'id: 2423\nevent: progress\ndata: {"id": 2423, "status": '
                    '"running", "progress": 42.1, "eta_s": 3.5, "final": false, ...}\n\n'
                }
            },
        }
    },
)
async def follow_events(
    backtest: OwnedBacktest,
    hub: ProgressHubDep,
    last_event_id: Annotated[
        int | None,
        Header(description="Resume: only states newer than this event's are sent."),
    ] = None,
) -> StreamingResponse:
    """The backtest's state now, then every change of status or progress (with an
    estimate of the time left), then its final state with the headline statistics;
    the stream ends there. Each event's `id` grows with the state, so a client that
    reconnects with `Last-Event-ID` receives only what is newer."""
    events = hub.subscribe(backtest, after=last_event_id)
    return StreamingResponse(
        _server_sent(events),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _server_sent(events: AsyncIterator[ProgressEvent]) -> AsyncIterator[str]:
    async for event in _with_keep_alive(events):
        if event is None:
            yield ": still running\n\n"
        else:
            yield f"id: {event.id}\nevent: {event.kind}\ndata: {event.model_dump_json()}\n\n"


async def _with_keep_alive(
    events: AsyncIterator[ProgressEvent],
) -> AsyncIterator[ProgressEvent | None]:
    """The events, and None after each KEEP_ALIVE_S without one."""
    iterator = aiter(events)
    pending: asyncio.Task[ProgressEvent] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(iterator))
            done, _ = await asyncio.wait({pending}, timeout=KEEP_ALIVE_S)
            if not done:
                yield None
                continue
            try:
                event = pending.result()
            except StopAsyncIteration:
                return
            pending = None
            yield event
    finally:
        if pending is not None:
            pending.cancel()
        with contextlib.suppress(Exception):
            await iterator.aclose()  # type: ignore[attr-defined]


class SignIn(BaseModel):
    """The first message on a backtest's socket."""

    token: str = Field(min_length=1, max_length=200)
    last_event_id: int | None = None


@router.websocket("/{backtest_id}/ws")
async def follow_socket(
    socket: WebSocket,
    backtest_id: str,
    tokens: TokenStoreDep,
    store: BacktestStoreDep,
    hub: ProgressHubDep,
) -> None:
    """The events of `/events` as JSON messages, after a first message from the client:
    `{"token": "...", "last_event_id": null}`. Closed with 4401 for a missing or bad
    token, 4404 for a backtest not the user's, 4408 when the token does not come within
    five seconds, and normally (1000) after the final event."""
    await socket.accept()
    try:
        raw = await asyncio.wait_for(socket.receive_text(), SIGN_IN_TIMEOUT_S)
        sign_in = SignIn.model_validate_json(raw)
    except TimeoutError:
        await socket.close(CLOSE_TIMEOUT, "no token within 5 s")
        return
    except (ValidationError, WebSocketDisconnect):
        await _close_quietly(socket, CLOSE_UNAUTHORIZED, 'first message: {"token": "..."}')
        return
    user = await tokens.user_of(sign_in.token)
    if user is None:
        await socket.close(CLOSE_UNAUTHORIZED, "invalid, expired or revoked token")
        return
    backtest = await store.get(user.id, backtest_id)
    if backtest is None:
        await socket.close(CLOSE_NOT_FOUND, "backtest not found")
        return
    await _send_events(socket, hub, backtest, sign_in.last_event_id)


async def _send_events(
    socket: WebSocket, hub: ProgressHub, backtest: Backtest, after: int | None
) -> None:
    events = hub.subscribe(backtest, after=after)
    try:
        async for event in events:
            await socket.send_text(event.model_dump_json())
    except WebSocketDisconnect:
        return
    await _close_quietly(socket, 1000, "final")


async def _close_quietly(socket: WebSocket, code: int, reason: str) -> None:
    with contextlib.suppress(RuntimeError, WebSocketDisconnect):
        await socket.close(code, reason)
