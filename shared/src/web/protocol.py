"""uvicorn's HTTP protocol with the guards a server facing unknown clients needs.

- Headers must arrive within `header_timeout_s` of a request's first byte (or of the
  connection, for its first request): a client that trickles them (slowloris) is cut
  off instead of holding a connection forever.
- One client address holds at most `max_connections_per_client` connections at once;
  more are answered 503 and closed, so one client cannot take every socket.

Bodies are the request intake's (`intake.py`): they are read with a deadline before any
of the app's concurrency slots is taken.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from shared.web.errors import error_body
from shared.web.security_headers import SECURITY_HEADERS

__all__ = ["GuardedHttpProtocol"]

logger = logging.getLogger(__name__)

_BUSY = json.dumps(error_body("too many connections from this address")).encode()
_BUSY_RESPONSE = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
    + b"".join(f"{name}: {value}\r\n".encode() for name, value in SECURITY_HEADERS.items())
    + b"connection: close\r\ncontent-length: "
    + str(len(_BUSY)).encode()
    + b"\r\n\r\n"
    + _BUSY
)


class GuardedHttpProtocol(HttpToolsProtocol):
    header_timeout_s: ClassVar[float] = 10.0
    max_connections_per_client: ClassVar[int] = 64
    _open: ClassVar[Counter[str]] = Counter()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_deadline: asyncio.TimerHandle | None = None
        self._address: str | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._address = self.client[0] if self.client else None
        if self._address is not None:
            self._open[self._address] += 1
            if self._open[self._address] > self.max_connections_per_client:
                logger.warning("refusing a connection: %s holds too many", self._address)
                transport.write(_BUSY_RESPONSE)
                transport.close()
                return
        self._arm_header_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_deadline()
        if self._address is not None:
            self._open[self._address] -= 1
            if self._open[self._address] <= 0:
                del self._open[self._address]
            self._address = None
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm_header_deadline()

    def on_headers_complete(self) -> None:
        self._disarm_header_deadline()
        super().on_headers_complete()

    def _arm_header_deadline(self) -> None:
        self._disarm_header_deadline()
        self._header_deadline = self.loop.call_later(self.header_timeout_s, self._headers_late)

    def _disarm_header_deadline(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_late(self) -> None:
        self._header_deadline = None
        if not self.transport.is_closing():
            self.transport.close()
