"""Idempotency keys: a client that may repeat a POST (its answer was lost to a crash or
a timeout) sends `Idempotency-Key: <anything unique>`, and the request is carried out
once. The first answer is stored under the key, per credentials; a repeat with the same
method, path, query and body gets that answer again, marked `Idempotent-Replayed: true`;
the same key with another request is refused with 409, as is a repeat while the first
is still being answered. An answer of 5xx is not kept, so a retry can succeed; keys are
forgotten after `KEY_LIFETIME`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import timedelta

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.contracts.common import utc_now
from shared.mongo import Document
from shared.web.errors import error_body
from shared.web.intake import replay

__all__ = ["IDEMPOTENCY_COLLECTION", "KEY_LIFETIME", "IdempotentPosts"]

IDEMPOTENCY_COLLECTION = "idempotency_keys"
KEY_LIFETIME = timedelta(hours=24)
_HEADER = b"idempotency-key"
_KEY = re.compile(rb"[\x21-\x7e]{1,255}")
_MALFORMED = "Idempotency-Key must be 1 to 255 visible ASCII characters"
_EXPIRED = "this Idempotency-Key expired meanwhile; send the request again"
_REUSED = "this Idempotency-Key was used for another request"
_IN_PROGRESS = "a request with this Idempotency-Key is still being answered"


class IdempotentPosts:
    """ASGI middleware over the POSTs under `prefix` (the request body is already read,
    so this wraps the app inside the request intake)."""

    def __init__(
        self,
        app: ASGIApp,
        keys_of: Callable[[Scope], AsyncCollection[Document]],
        prefix: str,
        excluded: frozenset[str] = frozenset(),
    ) -> None:
        self._app = app
        self._keys_of = keys_of
        self._prefix = prefix
        self._excluded = excluded

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope.get("headers", ())) if scope["type"] == "http" else {}
        key = headers.get(_HEADER)
        if (
            key is None
            or scope["method"] != "POST"
            or not scope["path"].startswith(self._prefix)
            or scope["path"] in self._excluded
        ):
            await self._app(scope, receive, send)
            return
        if not _KEY.fullmatch(key):
            await _answer(
                422,
                "Idempotency-Key must be 1 to 255 visible ASCII characters",
                scope,
                receive,
                send,
            )
            return
        body, replay = await _read(receive)
        keys = self._keys_of(scope)
        owner = hashlib.sha256(headers.get(b"authorization", b"")).hexdigest()
        record_id = hashlib.sha256(owner.encode() + b"\n" + key).hexdigest()
        fingerprint = hashlib.sha256(
            b"\n".join(
                [
                    scope["method"].encode(),
                    scope["path"].encode(),
                    scope.get("query_string", b""),
                    body,
                ]
            )
        ).hexdigest()
        try:
            await keys.insert_one(
                {
                    "_id": record_id,
                    "fingerprint": fingerprint,
                    "created_at": utc_now(),
                    "response": None,
                }
            )
        except DuplicateKeyError:
            await self._repeat(keys, record_id, fingerprint, scope, replay, send)
            return
        answer = _Answer()

        async def capture(message: Message) -> None:
            await send(message)
            # Kept as soon as the whole answer is out, not after the background tasks
            # that follow it (a dispatch): a client may repeat the request meanwhile.
            if answer.take(message):
                await self._keep(keys, record_id, answer)

        try:
            await self._app(scope, replay, capture)
        finally:
            if not answer.kept:
                await keys.delete_one({"_id": record_id})

    @staticmethod
    async def _keep(keys: AsyncCollection[Document], record_id: str, answer: _Answer) -> None:
        if answer.status >= 500:  # not kept: a retry may succeed
            await keys.delete_one({"_id": record_id})
        else:
            await keys.update_one({"_id": record_id}, {"$set": {"response": answer.document()}})
        answer.kept = True

    async def _repeat(
        self,
        keys: AsyncCollection[Document],
        record_id: str,
        fingerprint: str,
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        record = await keys.find_one({"_id": record_id})
        if record is None:  # expired in between: treat it as new next time
            await _answer(
                409,
                "this Idempotency-Key expired meanwhile; send the request again",
                scope,
                receive,
                send,
            )
        elif record["fingerprint"] != fingerprint:
            await _answer(
                409, "this Idempotency-Key was used for another request", scope, receive, send
            )
        elif record["response"] is None:
            await _answer(
                409,
                "a request with this Idempotency-Key is still being answered",
                scope,
                receive,
                send,
            )
        else:
            stored = record["response"]
            response = Response(
                bytes(stored["body"]),
                status_code=stored["status"],
                media_type=stored["content_type"],
                headers={"Idempotent-Replayed": "true"},
            )
            await response(scope, receive, send)


class _Answer:
    """A response as it is sent: status, content type and body."""

    def __init__(self) -> None:
        self.status = 500
        self.content_type = "application/json"
        self.chunks: list[bytes] = []
        self.kept = False

    def take(self, message: Message) -> bool:
        """Note a message sent; True once the response is complete."""
        if message["type"] == "http.response.start":
            self.status = message["status"]
            headers = dict(message.get("headers", []))
            self.content_type = headers.get(b"content-type", b"application/json").decode("latin-1")
            return False
        if message["type"] == "http.response.body":
            self.chunks.append(message.get("body", b""))
            return not message.get("more_body", False)
        return False

    def document(self) -> Document:
        return {
            "status": self.status,
            "content_type": self.content_type,
            "body": b"".join(self.chunks),
        }


async def _read(receive: Receive) -> tuple[bytes, Receive]:
    """Inside the request intake the body arrives whole, in one message."""
    message = await receive()
    body: bytes = message.get("body", b"")
    return body, replay(body, receive)


async def _answer(status: int, detail: str, scope: Scope, receive: Receive, send: Send) -> None:
    await JSONResponse(error_body(detail), status_code=status)(scope, receive, send)
