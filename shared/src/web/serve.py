"""Serving one of the apps: uvicorn with the guarded HTTP protocol.

    python -m shared.web.serve backend.main:create_app --host 127.0.0.1 --port 8000

The app factory is named, not imported here, so this package imports neither service.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import uvicorn
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.metrics_dir import share_metrics_with_children
from shared.web.protocol import GuardedHttpProtocol

__all__ = ["KEEP_ALIVE_S", "ServerSettings", "main"]

# Idle connections are kept far longer than HTTP clients keep them in their pools (httpx:
# 5 s). With equal limits a client can send a request on a connection in the instant the
# server closes it, and the request fails with nothing received.
KEEP_ALIVE_S = 75


class ServerSettings(BaseSettings):
    """How the server treats connections, from the environment."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    header_timeout_s: float = Field(
        default=10.0,
        alias="HEADER_TIMEOUT_S",
        gt=0,
        description="A request's headers must arrive within this of its first byte.",
    )
    max_connections_per_client: int = Field(
        default=64,
        alias="MAX_CONNECTIONS_PER_CLIENT",
        ge=1,
        description="Connections one client address may hold at once.",
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m shared.web.serve", description=__doc__)
    parser.add_argument("factory", help="module:function building the app")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    share_metrics_with_children()  # before the app (and prometheus_client) is imported
    settings = ServerSettings()
    GuardedHttpProtocol.header_timeout_s = settings.header_timeout_s
    GuardedHttpProtocol.max_connections_per_client = settings.max_connections_per_client
    uvicorn.run(
        args.factory,
        factory=True,
        host=args.host,
        port=args.port,
        http=GuardedHttpProtocol,
        timeout_keep_alive=KEEP_ALIVE_S,
        access_log=False,
    )


if __name__ == "__main__":
    main()
