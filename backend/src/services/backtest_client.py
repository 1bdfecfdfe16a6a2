"""BacktestServiceClient: the backend's signed HTTP client for the compute service."""

from __future__ import annotations

from typing import Any

import httpx

from backend_services.contracts import (
    BacktestExecution,
    RunBacktestAccepted,
    RunBacktestRequest,
    TradePage,
)
from backend_services.signing import ServiceSignature

DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=3.0, pool=10.0)
# The compute service answers fast and queues the work; a few connections carry any load,
# and a small pool keeps httpx's per-request connection bookkeeping cheap.
CONNECTION_LIMITS = httpx.Limits(max_connections=16, max_keepalive_connections=16)


class BacktestServiceError(Exception):
    """The compute service could not do what was asked."""


class BacktestServiceUnavailable(BacktestServiceError):
    """Not reachable, timed out or answered 5xx: worth trying again later."""


class BacktestServiceRejected(BacktestServiceError):
    """Answered 4xx: trying again will not help."""

    def __init__(self, status_code: int, detail: Any) -> None:
        super().__init__(f"compute service answered {status_code}: {detail}")
        self.status_code = status_code
        self.detail = detail


class BacktestServiceClient:
    def __init__(
        self, base_url: str, secret: str, timeout: httpx.Timeout = DEFAULT_TIMEOUT
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url,
            auth=ServiceSignature(secret),
            timeout=timeout,
            limits=CONNECTION_LIMITS,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def start_backtest(self, request: RunBacktestRequest) -> RunBacktestAccepted:
        """Hand a backtest over; repeating it for the same backtest_id starts nothing new."""
        body = await self._send("POST", "/backtest/run", content=request.model_dump_json())
        return RunBacktestAccepted.model_validate(body)

    async def get_backtest_status(self, execution_id: str) -> BacktestExecution:
        body = await self._send("GET", f"/backtest/{execution_id}/status")
        return BacktestExecution.model_validate(body)

    async def get_trades(self, execution_id: str, offset: int, limit: int) -> TradePage:
        body = await self._send(
            "GET", f"/backtest/{execution_id}/trades?offset={offset}&limit={limit}"
        )
        return TradePage.model_validate(body)

    async def cancel_backtest(self, execution_id: str) -> BacktestExecution:
        """Cancel; raises BacktestServiceRejected with 409 when it already finished."""
        body = await self._send("DELETE", f"/backtest/{execution_id}")
        return BacktestExecution.model_validate(body)

    async def health(self) -> dict[str, Any]:
        """The compute service's health report, whatever its status code."""
        try:
            response = await self._http.get("/health")
            report: dict[str, Any] = response.json()
        except (httpx.HTTPError, ValueError) as error:
            raise BacktestServiceUnavailable(f"compute service unreachable: {error!r}") from error
        return report

    async def _send(self, method: str, path: str, content: str | None = None) -> Any:
        headers = {"Content-Type": "application/json"} if content is not None else None
        try:
            response = await self._http.request(method, path, content=content, headers=headers)
        except httpx.HTTPError as error:
            raise BacktestServiceUnavailable(f"compute service unreachable: {error!r}") from error
        if response.status_code >= 500:
            raise BacktestServiceUnavailable(f"compute service answered {response.status_code}")
        if response.status_code >= 400:
            raise BacktestServiceRejected(response.status_code, _detail(response))
        return response.json()


def _detail(response: httpx.Response) -> Any:
    try:
        return response.json().get("detail", response.text)
    except ValueError:
        return response.text
