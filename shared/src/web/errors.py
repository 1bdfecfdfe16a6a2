"""The one error path of each app: domain errors to HTTP, every error body one shape
(`ErrorBody`), never a stack trace; and the OpenAPI entries that declare them."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from pymongo.errors import ConnectionFailure, DuplicateKeyError, OperationFailure
from starlette.exceptions import HTTPException

from shared.contracts.market_data import ImportReport
from shared.errors import DomainError, Unauthorized
from shared.mongo import out_of_disk_space

__all__ = ["ErrorBody", "FieldError", "error_body", "install_error_handlers", "responses_for"]

logger = logging.getLogger(__name__)
_VALIDATION_SUMMARY = "Refused input (the fields and why)"
_BAD_TEXT_SUMMARY = "Body is not UTF-8 text"


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
    fields; an import refusal `{msg, report}`; or a body already in this shape (relayed
    from the other service)."""
    if isinstance(detail, dict) and "detail" in detail:
        return ErrorBody.model_validate(detail).model_dump(mode="json")
    if isinstance(detail, dict) and "report" in detail:
        return {"detail": str(detail.get("msg")), "errors": [], "report": detail["report"]}
    if isinstance(detail, list):
        errors = _described(detail)
        summary = "; ".join(_where(error) + error["msg"] for error in errors)
        return {"detail": f"refused: {summary}", "errors": errors, "report": None}
    return {"detail": str(detail), "errors": [], "report": None}


def _where(error: dict[str, Any]) -> str:
    location = [str(part) for part in error["loc"] if part not in ("body", "query", "path")]
    return ".".join(location) + ": " if location else ""


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
    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        return JSONResponse(error_body(list(error.errors())), status_code=422)

    @app.exception_handler(DomainError)
    async def domain_error(request: Request, error: DomainError) -> JSONResponse:
        challenge = error.challenge if isinstance(error, Unauthorized) else None
        headers = {"WWW-Authenticate": challenge} if challenge else None
        return JSONResponse(error_body(error.detail), error.status_code, headers=headers)

    @app.exception_handler(HTTPException)
    async def framework_error(request: Request, error: HTTPException) -> JSONResponse:
        # An unknown path (404) or method (405), answered by the framework itself.
        return JSONResponse(error_body(error.detail), error.status_code, headers=error.headers)

    @app.exception_handler(OperationFailure)
    async def database_refused(request: Request, error: OperationFailure) -> JSONResponse:
        logger.error(
            "MongoDB refused %s %s: %s", request.method, request.url.path, error.details or error
        )
        if isinstance(error, DuplicateKeyError):
            return JSONResponse(error_body("conflicts with a stored record"), status_code=409)
        if out_of_disk_space(error):
            detail = "the database is out of disk space; nothing was stored, try again later"
            return JSONResponse(error_body(detail), status_code=507)
        detail = "the database refused the operation; nothing was stored, try again shortly"
        return JSONResponse(error_body(detail), status_code=503)

    @app.exception_handler(ConnectionFailure)
    async def database_unavailable(request: Request, error: ConnectionFailure) -> JSONResponse:
        logger.warning(
            "MongoDB unreachable during %s %s: %r", request.method, request.url.path, error
        )
        detail = "database unavailable, try again shortly"
        return JSONResponse(error_body(detail), status_code=503)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        logger.exception("unhandled error during %s %s", request.method, request.url.path)
        return JSONResponse(error_body("internal error"), status_code=500)


def _described(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """Where, what and why; never the input itself, which may not be encodable as JSON
    (NaN, infinity, a lone surrogate) and is the client's own anyway."""
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
