"""Domain errors: what went wrong, in words a caller can act on, and nothing about HTTP.

Stores, services and dependencies raise these; one handler per app
(`shared.web.errors.install_error_handler`) turns each into its status code and the one
error body, `{"detail": ...}`. `detail` is a message, or for refused input the list
shape FastAPI's own validation errors have, so a client parses one kind of 422.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import ValidationError

__all__ = [
    "UNAVAILABLE_RETRY_AFTER_S",
    "BadGateway",
    "Conflict",
    "DomainError",
    "Forbidden",
    "InvalidInput",
    "NotFound",
    "PayloadTooLarge",
    "TooManyRequests",
    "Unauthorized",
    "Unavailable",
    "UnsupportedMediaType",
    "invalid_in_words",
    "reason_in_words",
    "refusal_in_words",
]

# How long a client should wait before trying again a call refused because a dependency
# is down: about the time MongoDB's client takes to give up on finding a server.
UNAVAILABLE_RETRY_AFTER_S = 5


class DomainError(Exception):
    """Base of every error an app answers on purpose. `detail` is what the client sees."""

    status_code: ClassVar[int] = 500
    summary: ClassVar[str] = "Internal error"
    # Sent as Retry-After when set: how many seconds a client should wait before trying
    # again.
    retry_after_s: int | None = None

    def __init__(self, detail: Any) -> None:
        super().__init__(detail if isinstance(detail, str) else repr(detail))
        self.detail = detail


class Unauthorized(DomainError):
    """No credentials, or credentials that do not hold; `challenge` names the scheme
    expected (sent as WWW-Authenticate)."""

    status_code = 401
    summary = "Missing or invalid credentials"

    def __init__(self, detail: Any, challenge: str | None = None) -> None:
        super().__init__(detail)
        self.challenge = challenge


class Forbidden(DomainError):
    status_code = 403
    summary = "Not allowed for this user"


class NotFound(DomainError):
    """Unknown, or another user's: the two are not told apart."""

    status_code = 404
    summary = "Not found"


class Conflict(DomainError):
    """The thing is not in a state that allows this (finished, changed meanwhile)."""

    status_code = 409
    summary = "Conflicts with the current state"


class PayloadTooLarge(DomainError):
    status_code = 413
    summary = "Request body too large"


class UnsupportedMediaType(DomainError):
    """A body of a kind the route does not read; the message lists the kinds it does."""

    status_code = 415
    summary = "Unsupported content type"


class InvalidInput(DomainError):
    """Input refused; `detail` names the field, in FastAPI's validation-error shape
    unless the caller gives a richer body (an import report, say)."""

    status_code = 422
    summary = "Refused input"

    @classmethod
    def at(cls, field: str, message: str, kind: str = "value_error") -> InvalidInput:
        """Refused input at `body.<field>` (`field` may be dotted: `sweep.grid`)."""
        location = ["body", *field.split(".")] if field else ["body"]
        return cls([{"loc": location, "msg": message, "type": kind}])


class TooManyRequests(DomainError):
    """Too many attempts (failed sign-ins): refused until `retry_after_s` has passed."""

    status_code = 429
    summary = "Too many attempts: wait the seconds Retry-After says"

    def __init__(self, detail: Any, retry_after_s: int) -> None:
        super().__init__(detail)
        self.retry_after_s = max(1, retry_after_s)


class BadGateway(DomainError):
    """The other service answered something this one cannot use."""

    status_code = 502
    summary = "The compute service refused the call"


class Unavailable(DomainError):
    """A dependency is down or overloaded: worth trying again shortly."""

    status_code = 503
    summary = "Temporarily unavailable"
    retry_after_s = UNAVAILABLE_RETRY_AFTER_S


# What pydantic writes before the message of a validator that raised ValueError or failed
# an assertion.
_VALIDATOR_PREFIXES = ("Value error, ", "Assertion failed, ")
_LOCATIONS = ("body", "query", "path")


def reason_in_words(error: Mapping[str, Any]) -> str:
    """Why a field was refused (one of pydantic's error dicts), as a person would say
    it: without the prefix pydantic puts before a validator's own message, and never a
    regular expression."""
    if error["type"] == "string_pattern_mismatch":
        return "contains characters that are not allowed here"
    message = str(error["msg"])
    for prefix in _VALIDATOR_PREFIXES:
        message = message.removeprefix(prefix)
    return message


def refusal_in_words(error: Mapping[str, Any]) -> str:
    """`field.path: why` (the request part, `body` or `query`, left out)."""
    location = [str(part) for part in error["loc"] if part not in _LOCATIONS]
    where = ".".join(location) + ": " if location else ""
    return where + reason_in_words(error)


def invalid_in_words(invalid: ValidationError) -> str:
    """Every refusal of `invalid`, joined: never pydantic's own summary (`4 validation
    errors for BacktestStatistics`), the values refused, or its links to its docs."""
    return "; ".join(refusal_in_words(error) for error in invalid.errors(include_url=False))
