"""What both FastAPI apps set up alike: logging, a warning about the default secret, a
bound on request bodies, error responses as JSON `{"detail": ...}` that never carry a
stack trace, and a garbage collector that leaves the start-up heap alone."""

from __future__ import annotations

import gc
import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, HTTPException, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from pymongo.errors import ConnectionFailure
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend_services.admission import ConcurrencyGate
from backend_services.signing import DEFAULT_SERVICE_SECRET

logger = logging.getLogger(__name__)

DEFAULT_MAX_BODY_BYTES = 1 << 20


class ErrorDetail(BaseModel):
    """Every error response: `detail` is a message, or a list of validation errors."""

    detail: Any


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error statuses a route can answer (400: a body that is
    not UTF-8 text; 422: one that is not the JSON expected)."""
    return {code: {"model": ErrorDetail} for code in codes}


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
    _install_error_handlers(app)


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
                raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, _too_large(limit)["detail"])
            return message

        await self._app(scope, counting_receive, send)


def _too_large(limit: int) -> dict[str, str]:
    return {"detail": f"request body larger than {limit:,} bytes"}


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ConnectionFailure)
    async def database_unavailable(request: Request, error: ConnectionFailure) -> JSONResponse:
        logger.warning(
            "MongoDB unreachable during %s %s: %r", request.method, request.url.path, error
        )
        return JSONResponse({"detail": "database unavailable, try again shortly"}, status_code=503)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        logger.exception("unhandled error during %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "internal error"}, status_code=500)
