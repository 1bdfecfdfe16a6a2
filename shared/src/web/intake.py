"""Request intake: everything a request must pass before an app works on it, checked in
the order that costs a hostile or broken client the most and the server the least.

1. A declared body larger than the path's bound: 413 at once.
2. A signed path (the calls between the services) without a well-formed, fresh
   signature in its headers: 401 at once, before a byte of body is read.
3. The body is read whole, against its bound (413) and a deadline (408): a client that
   trickles its body holds a buffer, never one of the app's concurrency slots, which
   are taken only once the body is in (`ConcurrencyGate`, inside this).
4. A signed path whose signature does not match its method, path, query and body, or
   whose nonce was already used (a replay, remembered in MongoDB: `nonces.py`): 401,
   before the body is parsed.

Only then is the request handed on, its body replayed from memory.
"""

from __future__ import annotations

import asyncio
import hmac
import re
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.signing import (
    MAX_SIGNATURE_AGE_S,
    NONCE_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SignedRequest,
    compute_signature,
)
from shared.web.errors import error_body
from shared.web.nonces import first_use, nonces_of

__all__ = [
    "BODY_DEADLINE_S",
    "DEFAULT_MAX_BODY_BYTES",
    "MIN_BODY_RATE",
    "RequestIntake",
    "SignedPaths",
    "replay",
]

DEFAULT_MAX_BODY_BYTES = 1 << 20
# A body must arrive within this, plus a second per MIN_BODY_RATE bytes it declares.
BODY_DEADLINE_S = 30.0
MIN_BODY_RATE = 64 << 10
_TIMESTAMP = re.compile(rb"[0-9]{1,12}")
_SIGNATURE = re.compile(rb"[0-9a-f]{64}")
_NONCE = re.compile(rb"[0-9a-f]{32}")
_CONTENT_LENGTH = re.compile(rb"[0-9]{1,15}")


@dataclass(frozen=True)
class SignedPaths:
    """Paths (by prefix) only the other service may call, and the secret it signs with."""

    prefixes: tuple[str, ...]
    secret: str

    def cover(self, path: str) -> bool:
        return path.startswith(self.prefixes)


class RequestIntake:
    """See the module docstring. `limits` bounds the bodies of paths starting with each
    key; `exempt` paths (health) pass straight through."""

    def __init__(
        self,
        app: ASGIApp,
        limits: Mapping[str, int],
        signed: SignedPaths | None,
        exempt: Collection[str] = (),
        default_limit: int = DEFAULT_MAX_BODY_BYTES,
        body_timeout_s: float = BODY_DEADLINE_S,
    ) -> None:
        self._app = app
        self._limits = dict(limits)
        self._signed = signed
        self._exempt = frozenset(exempt)
        self._default_limit = default_limit
        self._body_timeout_s = body_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self._exempt:
            await self._app(scope, receive, send)
            return
        path: str = scope["path"]
        headers = dict(scope["headers"])
        limit = next(
            (bound for prefix, bound in self._limits.items() if path.startswith(prefix)),
            self._default_limit,
        )
        declared = headers.get(b"content-length")
        if declared is not None and not _CONTENT_LENGTH.fullmatch(declared):
            await _refuse(400, "Content-Length is not a whole number", scope, receive, send)
            return
        if declared is not None and int(declared) > limit:
            await _refuse(413, _too_large(limit), scope, receive, send)
            return
        signed = self._signed is not None and self._signed.cover(path)
        if signed:
            problem = _signature_headers_problem(headers)
            if problem:
                await _refuse(401, problem, scope, receive, send)
                return
        deadline_s = self._body_timeout_s + int(declared or 0) / MIN_BODY_RATE
        try:
            body = await asyncio.wait_for(_read_body(receive, limit), deadline_s)
        except _BodyTooLarge:
            await _refuse(413, _too_large(limit), scope, receive, send)
            return
        except TimeoutError:
            await _refuse(408, "the request body did not arrive in time", scope, receive, send)
            return
        except _ClientGone:
            return
        if signed and self._signed is not None:
            problem = await _signature_problem(self._signed, scope, headers, body)
            if problem:
                await _refuse(401, problem, scope, receive, send)
                return
        await self._app(scope, replay(body, receive), send)


class _BodyTooLarge(Exception):
    pass


class _ClientGone(Exception):
    pass


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGone
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def replay(body: bytes, receive: Receive) -> Receive:
    """The body, all at once; then whatever the client does next (a disconnect)."""
    delivered = False

    async def replayed() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


def _signature_headers_problem(headers: Mapping[bytes, bytes]) -> str | None:
    timestamp = headers.get(TIMESTAMP_HEADER.lower().encode(), b"")
    signature = headers.get(SIGNATURE_HEADER.lower().encode(), b"")
    nonce = headers.get(NONCE_HEADER.lower().encode(), b"")
    well_formed = (
        _TIMESTAMP.fullmatch(timestamp)
        and _SIGNATURE.fullmatch(signature)
        and _NONCE.fullmatch(nonce)
    )
    if not well_formed:
        return "missing service signature"
    if abs(time.time() - int(timestamp)) > MAX_SIGNATURE_AGE_S:
        return "stale service signature"
    return None


async def _signature_problem(
    signed: SignedPaths, scope: Scope, headers: Mapping[bytes, bytes], body: bytes
) -> str | None:
    timestamp = headers[TIMESTAMP_HEADER.lower().encode()].decode()
    nonce = headers[NONCE_HEADER.lower().encode()].decode()
    request = SignedRequest(
        scope["method"], scope["path"], scope["query_string"], timestamp, nonce, body
    )
    expected = compute_signature(signed.secret, request)
    if not hmac.compare_digest(expected.encode(), headers[SIGNATURE_HEADER.lower().encode()]):
        return "invalid service signature"
    if not await first_use(nonces_of(scope), nonce, int(timestamp) + MAX_SIGNATURE_AGE_S):
        return "replayed service signature: this nonce was already used"
    return None


def _too_large(limit: int) -> str:
    return f"request body larger than {limit:,} bytes"


async def _refuse(status: int, detail: str, scope: Scope, receive: Receive, send: Send) -> None:
    # Not read: the connection is closed after the answer, so nothing more is taken in.
    response = JSONResponse(error_body(detail), status_code=status, headers={"Connection": "close"})
    await response(scope, receive, send)
