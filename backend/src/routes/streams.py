"""A backtest's progress, pushed: Server-Sent Events for curl and simple clients, and a
WebSocket for pages. Both carry the same events (`streams.progress_hub.ProgressEvent`) and end
after the final one.

A browser cannot put a header on a WebSocket, and a token in its URL would be written
to every access log on the way: the socket's first message carries the token instead.

A stream lasts only as long as its token: every TOKEN_CHECK_S it asks whether the token
is still valid (answered from the token cache most of the time), and a revoked or
expired token ends it, the socket with 4401, the event stream with a `signed_out` event.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, WebSocket, WebSocketDisconnect
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field, ValidationError
from pymongo.errors import PyMongoError

from backend.deps import (
    BacktestStoreDep,
    PresentedToken,
    ProgressHubDep,
    ReadableBacktest,
    TokenStoreDep,
    backtest_as_read,
)
from backend.stores.tokens import TokenStore
from backend.streams.progress_hub import ProgressEvent, event_of
from shared.errors import NotFound, Unauthorized
from shared.web.errors import responses_for

__all__ = ["router"]

# A comment line this often keeps proxies from closing a quiet stream; a stream checks
# its token as often.
KEEP_ALIVE_S = 15.0
TOKEN_CHECK_S = 2.0
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
    backtest: ReadableBacktest,
    hub: ProgressHubDep,
    token: PresentedToken,
    tokens: TokenStoreDep,
    last_event_id: Annotated[
        int | None,
        Header(description="Resume: only states newer than this event's are sent."),
    ] = None,
) -> StreamingResponse:
    """The backtest's state now, then every change of status or progress (with an
    estimate of the time left), then its final state with the headline statistics;
    the stream ends there. Each event's `id` grows with the state, so a client that
    reconnects with `Last-Event-ID` receives only what is newer. A `signed_out` event
    ends it early when its token is revoked or expires."""
    events = hub.subscribe(event_of(backtest), after=last_event_id)
    return StreamingResponse(
        _server_sent(_while_signed_in(events, tokens, token)),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _server_sent(
    events: AsyncIterator[ProgressEvent | SignedOut | None],
) -> AsyncIterator[str]:
    quiet_since = time.monotonic()
    async for event in events:
        if isinstance(event, SignedOut):
            yield f"event: signed_out\ndata: {event.model_dump_json()}\n\n"
            return
        if event is not None:
            quiet_since = time.monotonic()
            yield f"id: {event.id}\nevent: {event.kind}\ndata: {event.model_dump_json()}\n\n"
        elif time.monotonic() - quiet_since >= KEEP_ALIVE_S:
            quiet_since = time.monotonic()
            yield ": still running\n\n"


class SignedOut(BaseModel):
    """The last message of a stream whose token was revoked or expired."""

    detail: str = "the token was revoked or expired"


async def _while_signed_in(
    events: AsyncIterator[ProgressEvent], tokens: TokenStore, token: str
) -> AsyncIterator[ProgressEvent | SignedOut | None]:
    """The events, None after each TOKEN_CHECK_S without one, and SignedOut (then
    nothing) once the token is no longer valid, asked at most every TOKEN_CHECK_S."""
    checked = time.monotonic()
    async for event in _with_ticks(events, TOKEN_CHECK_S):
        if time.monotonic() - checked >= TOKEN_CHECK_S:
            checked = time.monotonic()
            try:
                signed_in = await tokens.user_of(token) is not None
            except PyMongoError:  # MongoDB away: ask again at the next check
                signed_in = True
            if not signed_in:
                yield SignedOut()
                return
        yield event


async def _with_ticks(
    events: AsyncIterator[ProgressEvent], tick_s: float
) -> AsyncIterator[ProgressEvent | None]:
    """The events, and None after each `tick_s` without one."""
    iterator = aiter(events)
    pending: asyncio.Task[ProgressEvent] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(iterator))
            done, _ = await asyncio.wait({pending}, timeout=tick_s)
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
    backtest = await backtest_as_read(backtest_id, user.id, store, hub)
    if backtest is None:
        await socket.close(CLOSE_NOT_FOUND, "backtest not found")
        return
    events = hub.subscribe(event_of(backtest), after=sign_in.last_event_id)
    await _send_events(socket, _while_signed_in(events, tokens, sign_in.token))


async def _send_events(
    socket: WebSocket, events: AsyncIterator[ProgressEvent | SignedOut | None]
) -> None:
    try:
        async for event in events:
            if isinstance(event, SignedOut):
                await _close_quietly(socket, CLOSE_UNAUTHORIZED, event.detail)
                return
            if event is not None:
                await socket.send_text(event.model_dump_json())
    except WebSocketDisconnect:
        return
    await _close_quietly(socket, 1000, "final")


async def _close_quietly(socket: WebSocket, code: int, reason: str) -> None:
    with contextlib.suppress(RuntimeError, WebSocketDisconnect):
        await socket.close(code, reason)
