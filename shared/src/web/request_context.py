"""Each request's id and its access-log line.

The id comes from the client's `X-Request-ID` when it is a sensible token (so a caller
can follow its own id through both services' logs), or is made here; it is echoed on
the response, held in `request_id` while the request is worked on (the backend passes
it on to the compute service, which writes it on the execution), and logged with the
method, path, status, duration and user once the response is sent. Health probes are
logged only when they fail: a probe a second would drown the requests that matter.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Collection

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.contracts.common import REQUEST_ID_PATTERN
from shared.logs import request_id
from shared.metrics import HTTP_SECONDS

__all__ = ["REQUEST_ID_HEADER", "RequestContext", "new_request_id", "request_id", "set_user"]

REQUEST_ID_HEADER = "X-Request-ID"
_HEADER_KEY = REQUEST_ID_HEADER.lower().encode()
_USABLE_ID = re.compile(REQUEST_ID_PATTERN)
_USER_KEY = "user_id"

access_log = logging.getLogger("access")


def new_request_id() -> str:
    return uuid.uuid4().hex


def set_user(state: dict[str, object], user_id: str) -> None:
    """Name the request's user for its access-log line (`state`: the request's state)."""
    state[_USER_KEY] = user_id


class RequestContext:
    def __init__(self, app: ASGIApp, quiet_paths: Collection[str] = ()) -> None:
        self.app = app
        self.quiet_paths = frozenset(quiet_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        given = dict(scope["headers"]).get(_HEADER_KEY, b"").decode("latin-1")
        current = given if _USABLE_ID.match(given) else new_request_id()
        token = request_id.set(current)
        status = 500  # if the app fails before answering

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [*message.get("headers", []), (_HEADER_KEY, current.encode())]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id.reset(token)
            seconds = time.perf_counter() - started
            # The route's template (/api/backtest/{backtest_id}), never the path: one
            # series per route, however many ids are asked for.
            route = getattr(scope.get("route"), "path", "unmatched")
            HTTP_SECONDS.labels(scope["method"], route, str(status)).observe(seconds)
            path = scope["path"]
            if status >= 400 or path not in self.quiet_paths:
                user = scope.get("state", {}).get(_USER_KEY, "-")
                access_log.info(
                    "%s %s %d %.1fms user=%s request_id=%s",
                    scope["method"],
                    path,
                    status,
                    seconds * 1e3,
                    user,
                    current,
                )
