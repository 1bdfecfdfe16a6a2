"""The one error path of each app: domain errors to HTTP, every error body
`{"detail": ...}`, never a stack trace; and the OpenAPI entries that declare them."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from pymongo.errors import ConnectionFailure, DuplicateKeyError, OperationFailure

from shared.errors import DomainError, Unauthorized
from shared.mongo import out_of_disk_space

__all__ = ["ErrorDetail", "install_error_handlers", "responses_for"]

logger = logging.getLogger(__name__)
_VALIDATION_SUMMARY = "Refused input (the fields and why)"
_BAD_TEXT_SUMMARY = "Body is not UTF-8 text"


class ErrorDetail(BaseModel):
    """Every error response: `detail` is a message, or a list of validation errors
    (`loc`, `msg`, `type`), or for an import refused by its rows `{msg, report}`."""

    detail: Any


def responses_for(*errors: type[DomainError] | int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the errors a route can answer: domain error classes, or the
    status codes the framework itself answers (400: a body that is not UTF-8 text;
    422: one that is not the JSON expected)."""
    entries: dict[int | str, dict[str, Any]] = {}
    for error in errors:
        if isinstance(error, int):
            code, summary = error, _BAD_TEXT_SUMMARY if error == 400 else _VALIDATION_SUMMARY
        else:
            code, summary = error.status_code, error.summary
        entries[code] = {"model": ErrorDetail, "description": summary}
    return entries


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        # Where, what and why; never the input itself, which may not be encodable as
        # JSON (NaN, infinity, a lone surrogate) and is the client's own anyway.
        return JSONResponse({"detail": _described(error.errors())}, status_code=422)

    @app.exception_handler(DomainError)
    async def domain_error(request: Request, error: DomainError) -> JSONResponse:
        challenge = error.challenge if isinstance(error, Unauthorized) else None
        headers = {"WWW-Authenticate": challenge} if challenge else None
        return JSONResponse({"detail": error.detail}, error.status_code, headers=headers)

    @app.exception_handler(OperationFailure)
    async def database_refused(request: Request, error: OperationFailure) -> JSONResponse:
        logger.error(
            "MongoDB refused %s %s: %s", request.method, request.url.path, error.details or error
        )
        if isinstance(error, DuplicateKeyError):
            return JSONResponse({"detail": "conflicts with a stored record"}, status_code=409)
        if out_of_disk_space(error):
            detail = "the database is out of disk space; nothing was stored, try again later"
            return JSONResponse({"detail": detail}, status_code=507)
        detail = "the database refused the operation; nothing was stored, try again shortly"
        return JSONResponse({"detail": detail}, status_code=503)

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


def _described(errors: Sequence[Any]) -> list[dict[str, Any]]:
    return [
        {
            "loc": [
                part if isinstance(part, int) else _printable(str(part)) for part in error["loc"]
            ],
            "msg": _printable(str(error["msg"])),
            "type": str(error["type"]),
        }
        for error in errors
    ]


def _printable(text: str) -> str:
    """`text` as valid UTF-8: a lone surrogate (which JSON escapes allow and UTF-8 does
    not) is written as its escape."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
