"""HMAC signatures on the calls between the two services.

A signed request carries `X-Service-Timestamp` (unix seconds), `X-Service-Nonce` (32
random hex digits, new for every request) and `X-Service-Signature` (hex HMAC-SHA256
with `SERVICE_SECRET` over method, path, query string, timestamp, nonce and body). The
request intake (`web/intake.py`) refuses with 401, before the body is parsed and before
any route runs, so a refused call changes nothing:
- a signature older than `MAX_SIGNATURE_AGE_S`, or from the future by as much;
- one that does not match (any byte of method, path, query or body changed);
- a nonce it has already accepted while that signature is fresh (kept in MongoDB,
  `web/nonces.py`): a captured request replayed as it was is refused, even after the
  receiving service restarted.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Generator

import httpx

__all__ = [
    "DEFAULT_SERVICE_SECRET",
    "MAX_SIGNATURE_AGE_S",
    "NONCE_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "ServiceSignature",
    "SignedRequest",
    "compute_signature",
]

TIMESTAMP_HEADER = "X-Service-Timestamp"
NONCE_HEADER = "X-Service-Nonce"
SIGNATURE_HEADER = "X-Service-Signature"
MAX_SIGNATURE_AGE_S = 300
# Lets a local run work out of the box; every real deployment sets its own secret.
DEFAULT_SERVICE_SECRET = "change-me"  # noqa: S105 (public by design, warned about)


class SignedRequest:
    """What a signature covers, in the order it is hashed."""

    __slots__ = ("body", "method", "nonce", "path", "query", "timestamp")

    def __init__(
        self, method: str, path: str, query: bytes, timestamp: str, nonce: str, body: bytes
    ) -> None:
        self.method, self.path, self.query = method.upper(), path, query
        self.timestamp, self.nonce, self.body = timestamp, nonce, body

    def message(self) -> bytes:
        parts = [self.method, self.path, self.query.decode("latin-1"), self.timestamp, self.nonce]
        return "\n".join(parts).encode() + b"\n" + self.body


def compute_signature(secret: str, request: SignedRequest) -> str:
    return hmac.new(secret.encode(), request.message(), hashlib.sha256).hexdigest()


class ServiceSignature(httpx.Auth):
    """httpx authentication that signs every request with the shared secret."""

    def __init__(self, secret: str) -> None:
        self._secret = secret

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        signed = SignedRequest(
            request.method,
            request.url.path,
            request.url.query,
            str(int(time.time())),
            secrets.token_hex(16),
            request.content,
        )
        request.headers[TIMESTAMP_HEADER] = signed.timestamp
        request.headers[NONCE_HEADER] = signed.nonce
        request.headers[SIGNATURE_HEADER] = compute_signature(self._secret, signed)
        yield request
