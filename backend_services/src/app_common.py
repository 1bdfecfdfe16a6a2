"""What both FastAPI apps set up alike: logging, a warning about the default secret, and
error responses as JSON `{"detail": ...}` that never carry a stack trace."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pymongo.errors import ConnectionFailure

from backend_services.signing import DEFAULT_SERVICE_SECRET

logger = logging.getLogger(__name__)


def set_up_app(app: FastAPI, service_secret: str) -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if service_secret == DEFAULT_SERVICE_SECRET:
        logger.warning("SERVICE_SECRET is not set: using the public default; set it in production")
    _install_error_handlers(app)


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
