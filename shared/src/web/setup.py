"""What both FastAPI apps set up alike: logging, a warning about the default secret, a
bound on request bodies, error responses as JSON `{"detail": ...}` that never carry a
stack trace, and a garbage collector that leaves the start-up heap alone."""

from __future__ import annotations

import gc
import logging
from collections.abc import Mapping

from fastapi import FastAPI, HTTPException
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.errors import PayloadTooLarge
from shared.signing import DEFAULT_SERVICE_SECRET
from shared.web.admission import ConcurrencyGate
from shared.web.errors import install_error_handlers

__all__ = ["DEFAULT_MAX_BODY_BYTES", "BodySizeLimit", "freeze_startup_heap", "set_up_app"]

logger = logging.getLogger(__name__)

DEFAULT_MAX_BODY_BYTES = 1 << 20


def set_up_app(
    app: FastAPI,
    service_secret: str,
    max_concurrent_requests: int,
    health_path: str,
    body_limits: Mapping[str, int] | None = None,
) -> None:
    """Shared set-up; `body_limits` sets the body bound (bytes) of paths starting with
    each of its keys."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if service_secret == DEFAULT_SERVICE_SECRET:
        logger.warning("SERVICE_SECRET is not set: using the public default; set it in production")
    app.add_middleware(BodySizeLimit, limits=dict(body_limits or {}))
    app.add_middleware(ConcurrencyGate, limit=max_concurrent_requests, exempt={health_path})
    install_error_handlers(app)


def freeze_startup_heap() -> None:
    """Keep the garbage collector off everything that exists once start-up is done.

    Called at the end of a lifespan's start-up. Modules, schemas, the app and its clients
    are hundreds of thousands of objects that live as long as the process; a full
    collection walks them all and, measured under load, stalled the event loop for 50 to
    100 ms at a time. Frozen, they are never scanned, and a full collection only walks
    what requests allocated since.
    """
    gc.collect()
    gc.freeze()


class BodySizeLimit:
    """Answers 413 to a body over its bound: at once when Content-Length says so, or as
    soon as a streamed body passes it, before the route has stored anything."""

    def __init__(
        self, app: ASGIApp, limits: dict[str, int], default: int = DEFAULT_MAX_BODY_BYTES
    ) -> None:
        self._app = app
        self._limits = limits
        self._default = default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        path: str = scope["path"]
        limit = next(
            (bound for prefix, bound in self._limits.items() if path.startswith(prefix)),
            self._default,
        )
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            response = JSONResponse(_too_large(limit), status_code=413)
            await response(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                # An HTTPException, not a domain error: FastAPI answers any other error raised
                # while it reads a body with 400.
                raise HTTPException(PayloadTooLarge.status_code, _too_large(limit)["detail"])
            return message

        await self._app(scope, counting_receive, send)


def _too_large(limit: int) -> dict[str, str]:
    return {"detail": f"request body larger than {limit:,} bytes"}
