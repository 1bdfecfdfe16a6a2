"""Headers every response of both services carries, telling a browser what a page of
this origin may do: a slip that lets stored text into the page runs nothing.

- `Content-Security-Policy`: scripts, styles, fonts and connections from this origin
  only (no inline script or style, no `eval`), images from here or `data:` URLs (Swagger
  UI's icons), no plugins, no `<base>` rewriting, forms posting here only, and no page
  of another site may frame these (`frame-ancestors 'none'`, with `X-Frame-Options:
  DENY` for browsers older than it).
- `X-Content-Type-Options: nosniff`: a JSON answer or an upload's echo is never run as
  script or style because its bytes look like one.
- `Referrer-Policy: no-referrer`: URLs (ids in them) never leave in a Referer header.

A response that sets one of these itself keeps its own.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CONTENT_SECURITY_POLICY", "SECURITY_HEADERS", "SecurityHeaders"]

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
_ENCODED = [(name.lower().encode(), value.encode()) for name, value in SECURITY_HEADERS.items()]


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in _ENCODED if name not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self._app(scope, receive, with_headers)
