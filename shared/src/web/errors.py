"""The one error path of each app: domain errors to HTTP, every error body one shape
(`ErrorBody`), never a stack trace; and the OpenAPI entries that declare them."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from pymongo.errors import ConnectionFailure, DuplicateKeyError, OperationFailure, PyMongoError
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.contracts.market_data import ImportReport
from shared.contracts.symbol_uses import StrategyUse
from shared.errors import (
    UNAVAILABLE_RETRY_AFTER_S,
    DomainError,
    Unauthorized,
    reason_in_words,
    refusal_in_words,
)
from shared.mongo import out_of_disk_space

__all__ = [
    "ErrorBody",
    "ErrorGuard",
    "FieldError",
    "error_body",
    "error_response",
    "install_error_handlers",
    "responses_for",
]

logger = logging.getLogger(__name__)
_VALIDATION_SUMMARY = "Refused input (the fields and why)"
_BAD_TEXT_SUMMARY = "Body is not UTF-8 text"
# Errors MongoDB marks as worth retrying (an election, a connection lost mid-operation).
_TRANSIENT_LABELS = ("RetryableWriteError", "TransientTransactionError")


class FieldError(BaseModel):
    loc: list[str | int] = Field(description="Where: `body`, `query` or `path`, then the field.")
    msg: str = Field(description="Why it was refused.")
    type: str = Field(description="A machine-readable kind, e.g. `greater_than`.")


class ErrorBody(BaseModel):
    """Every error response, whatever its status, has this shape."""

    detail: str = Field(description="What went wrong, in words a person can act on.")
    errors: list[FieldError] = Field(
        default_factory=list, description="For refused input: each field refused, and why."
    )
    report: ImportReport | None = Field(
        default=None, description="For an upload refused by its rows: the import's report."
    )
    used_by: list[StrategyUse] | None = Field(
        default=None,
        description="Only on a symbol's deletion refused because strategies use it: which.",
    )

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "detail": "refused: initial_capital: Input should be greater than 0",
                    "errors": [
                        {
                            "loc": ["body", "initial_capital"],
                            "msg": "Input should be greater than 0",
                            "type": "greater_than",
                        }
                    ],
                    "report": None,
                }
            ]
        }
    }


def error_body(detail: Any) -> dict[str, Any]:
    """A domain error's detail as the one error body: a message; a list of refused
    fields; an import refusal `{msg, report}`; a deletion refused `{msg, used_by}`; or a
    body already in this shape (relayed from the other service). `used_by` is there only
    when it says something."""
    if isinstance(detail, dict) and "detail" in detail:
        body = ErrorBody.model_validate(detail).model_dump(mode="json")
        return {name: value for name, value in body.items() if name != "used_by" or value}
    if isinstance(detail, dict) and "report" in detail:
        return {"detail": str(detail.get("msg")), "errors": [], "report": detail["report"]}
    if isinstance(detail, dict) and "used_by" in detail:
        uses = [
            StrategyUse.model_validate(use).model_dump(mode="json") for use in detail["used_by"]
        ]
        return {"detail": str(detail.get("msg")), "errors": [], "report": None, "used_by": uses}
    if isinstance(detail, list):
        errors = _described(detail)
        summary = "; ".join(refusal_in_words(error) for error in errors)
        return {"detail": f"refused: {summary}", "errors": errors, "report": None}
    return {"detail": str(detail), "errors": [], "report": None}


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
        entries[code] = {"model": ErrorBody, "description": summary}
    return entries


def install_error_handlers(app: FastAPI) -> None:
    """Map every error to its answer (`error_response`): the framework's and the routes'
    here; anything else, and what the middleware raises, in `ErrorGuard`."""

    async def handle(connection: HTTPConnection, error: Exception) -> Response:
        # A WebSocket's errors come here too (the answer is then not sent): it has no method.
        method = connection.scope.get("method", "WEBSOCKET")
        return error_response(error, method, connection.url.path)

    for kind in (RequestValidationError, DomainError, HTTPException, PyMongoError):
        app.add_exception_handler(kind, handle)


def error_response(error: Exception, method: str, path: str) -> JSONResponse:
    """The one answer to `error`, whatever raised it (logged with `method` and `path`):
    - refused input: 422 with each field and why, in words;
    - a domain error: its status, `WWW-Authenticate` and `Retry-After` where it has them;
    - the framework's own (an unknown path, a method not allowed): its status;
    - MongoDB out of reach or timing out, or refusing an operation: 503 with
      `Retry-After`; out of disk space: 507; a duplicate key: 409;
    - anything else: 500, `internal error`, the traceback in the log only."""
    if isinstance(error, RequestValidationError):
        return JSONResponse(error_body(list(error.errors())), status_code=422)
    if isinstance(error, DomainError):
        headers = _retry_after(error.retry_after_s)
        if isinstance(error, Unauthorized) and error.challenge:
            headers["WWW-Authenticate"] = error.challenge
        return JSONResponse(error_body(error.detail), error.status_code, headers=headers)
    if isinstance(error, HTTPException):
        return JSONResponse(error_body(error.detail), error.status_code, headers=error.headers)
    if isinstance(error, PyMongoError) and (database := _database_error(error, method, path)):
        return database
    logger.error("unhandled error during %s %s", method, path, exc_info=error)
    return JSONResponse(error_body("internal error"), status_code=500)


def _database_error(error: PyMongoError, method: str, path: str) -> JSONResponse | None:
    if isinstance(error, DuplicateKeyError):
        logger.error("MongoDB refused %s %s: %s", method, path, error.details or error)
        return JSONResponse(error_body("conflicts with a stored record"), status_code=409)
    if isinstance(error, OperationFailure) and out_of_disk_space(error):
        logger.error("MongoDB refused %s %s: %s", method, path, error.details or error)
        detail = "the database is out of disk space; nothing was stored, try again later"
        return JSONResponse(error_body(detail), status_code=507)
    if _outage(error):
        logger.warning("MongoDB unreachable during %s %s: %r", method, path, error)
        detail = "database unavailable, try again shortly"
    elif isinstance(error, OperationFailure):
        logger.error("MongoDB refused %s %s: %s", method, path, error.details or error)
        detail = "the database refused the operation; nothing was stored, try again shortly"
    else:  # misuse (a closed client, a document it cannot encode): a fault of ours
        return None
    headers = _retry_after(UNAVAILABLE_RETRY_AFTER_S)
    return JSONResponse(error_body(detail), status_code=503, headers=headers)


def _outage(error: PyMongoError) -> bool:
    """MongoDB could not be reached, or did not answer in time: no server selected,
    a connection lost or timed out, a primary stepping down, a pool exhausted."""
    return (
        isinstance(error, ConnectionFailure)
        or error.timeout
        or any(error.has_error_label(label) for label in _TRANSIENT_LABELS)
    )


def _retry_after(seconds: int | None) -> dict[str, str]:
    return {"Retry-After": str(seconds)} if seconds is not None else {}


class ErrorGuard:
    """The last resort of the error path, around the request intake and everything
    inside it: whatever a middleware or a route raises is answered by `error_response`
    and goes no further. An exception reaching the server would make it close the
    connection, failing the next request a client sends on it too.

    An error after the response has started cannot change it: it is logged, and the
    server ends the incomplete response (closing that connection) as it must."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = False

        async def noting_start(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self._app(scope, receive, noting_start)
        except Exception as error:
            if started:
                logger.error(
                    "error after answering %s %s", scope["method"], scope["path"], exc_info=error
                )
                return
            response = error_response(error, scope["method"], scope["path"])
            await response(scope, receive, send)


def _described(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """Where, what and why; never the input itself, which may not be encodable as JSON
    (NaN, infinity, a lone surrogate) and is the client's own anyway."""
    return [
        {
            "loc": [
                part if isinstance(part, int) else _printable(str(part)) for part in error["loc"]
            ],
            "msg": _printable(reason_in_words(error)),
            "type": str(error["type"]),
        }
        for error in errors
    ]


def _printable(text: str) -> str:
    """`text` as valid UTF-8: a lone surrogate (which JSON escapes allow and UTF-8 does
    not) is written as its escape."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
