"""What both FastAPI apps set up alike: logging, a warning about the default secret, a
request id and access-log line per request, the origins browsers may call from, the
request intake (bounded bodies, signed paths checked before anything is parsed), a bound
on the requests worked on at once, error responses as JSON `{"detail": ...}` that never
carry a stack trace, security headers on every response, and a garbage collector that
leaves the start-up heap alone."""

from __future__ import annotations

import gc
import logging
from collections.abc import Collection, Mapping, Sequence

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from shared.logs import configure_logging
from shared.signing import DEFAULT_SERVICE_SECRET
from shared.web.admission import ConcurrencyGate
from shared.web.errors import ErrorGuard, install_error_handlers
from shared.web.intake import BODY_DEADLINE_S, RequestIntake, SignedPaths
from shared.web.request_context import REQUEST_ID_HEADER, RequestContext
from shared.web.security_headers import SecurityHeaders

__all__ = ["CORS_HEADERS", "CORS_METHODS", "freeze_startup_heap", "set_up_app"]

CORS_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
CORS_HEADERS = ["Authorization", "Content-Type", "Idempotency-Key", REQUEST_ID_HEADER]

logger = logging.getLogger(__name__)


def set_up_app(
    app: FastAPI,
    service_secret: str,
    max_concurrent_requests: int,
    exempt_paths: Collection[str],
    ungated_paths: Collection[str] = (),
    signed_prefixes: tuple[str, ...] = (),
    body_limits: Mapping[str, int] | None = None,
    body_timeout_s: float = BODY_DEADLINE_S,
    cors_origins: Sequence[str] = (),
) -> None:
    """Shared set-up. `body_limits` sets the body bound (bytes) of paths starting with
    each of its keys; `signed_prefixes` are the paths only the other service may call;
    `exempt_paths` (health probes) skip the intake, never wait for a slot and are logged
    only when they fail; `ungated_paths` never wait for a slot (what they do is bounded
    otherwise); `cors_origins` may call from a browser page of theirs (bearer
    tokens, no cookies: credentials are not allowed)."""
    configure_logging()
    # httpx logs every call it makes at INFO: the dependency monitor's health check of
    # the other service, each second, would bury the access lines that matter.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if service_secret == DEFAULT_SERVICE_SECRET:
        logger.warning("SERVICE_SECRET is not set: using the public default; set it in production")
    # Starlette runs the middleware added last first: the intake reads the body before
    # the gate hands out a slot, and the error guard answers whatever either raises.
    app.add_middleware(
        ConcurrencyGate,
        limit=max_concurrent_requests,
        exempt=[*exempt_paths, *ungated_paths],
        apart=signed_prefixes,
    )
    app.add_middleware(
        RequestIntake,
        limits=dict(body_limits or {}),
        signed=SignedPaths(signed_prefixes, service_secret) if signed_prefixes else None,
        exempt=exempt_paths,
        body_timeout_s=body_timeout_s,
    )
    app.add_middleware(ErrorGuard)
    if cors_origins:
        # Outside the intake and the guard, so their answers reach the page readable too.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(cors_origins),
            allow_methods=CORS_METHODS,
            allow_headers=CORS_HEADERS,
            expose_headers=[REQUEST_ID_HEADER],
            max_age=600,
        )
    app.add_middleware(RequestContext, quiet_paths=exempt_paths)
    app.add_middleware(SecurityHeaders)  # outermost: every answer carries them
    install_error_handlers(app)


def freeze_startup_heap() -> None:
    """Keep the garbage collector off everything that exists once start-up is done.

    Called at the end of a lifespan's start-up. Modules, schemas, the app and its clients
    are hundreds of thousands of objects that live as long as the process; a full
    collection walks them all and, measured under load, stalled the event loop for 50 to
    100 ms at a time. Frozen, they are never scanned, and a full collection only walks
    what requests allocated since.
    """
    gc.collect()
    gc.freeze()
