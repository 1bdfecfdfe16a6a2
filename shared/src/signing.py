"""HMAC signatures on the calls between the two services.

A signed request carries `X-Service-Timestamp` (unix seconds) and `X-Service-Signature`
(hex HMAC-SHA256 with `SERVICE_SECRET` over method, path, timestamp and body). A
signature older than `MAX_SIGNATURE_AGE_S`, from the future by as much, or not matching
is refused with 401 by the request intake (`web/intake.py`), before the body is parsed
and before any route runs, so a refused call changes nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Generator

import httpx

__all__ = [
    "DEFAULT_SERVICE_SECRET",
    "MAX_SIGNATURE_AGE_S",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "ServiceSignature",
    "compute_signature",
]

TIMESTAMP_HEADER = "X-Service-Timestamp"
SIGNATURE_HEADER = "X-Service-Signature"
MAX_SIGNATURE_AGE_S = 300
# Lets a local run work out of the box; every real deployment sets its own secret.
DEFAULT_SERVICE_SECRET = "change-me"  # noqa: S105 (public by design, warned about)


def compute_signature(secret: str, method: str, path: str, timestamp: str, body: bytes) -> str:
    message = b"\n".join([method.upper().encode(), path.encode(), timestamp.encode(), body])
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


class ServiceSignature(httpx.Auth):
    """httpx authentication that signs every request with the shared secret."""

    def __init__(self, secret: str) -> None:
        self._secret = secret

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        timestamp = str(int(time.time()))
        request.headers[TIMESTAMP_HEADER] = timestamp
        request.headers[SIGNATURE_HEADER] = compute_signature(
            self._secret, request.method, request.url.path, timestamp, request.content
        )
        yield request
