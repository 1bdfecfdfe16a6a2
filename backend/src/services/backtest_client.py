"""BacktestServiceClient: the backend's signed HTTP client for the compute service."""

from __future__ import annotations

from typing import Any

import httpx

from shared.contracts.executions import BacktestExecution, RunBacktestAccepted, RunBacktestRequest
from shared.contracts.market_data import Candles, ImportOptions, ImportOutcome, TableFormat
from shared.contracts.results import TradePage
from shared.errors import (
    BadGateway,
    Conflict,
    DomainError,
    Forbidden,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    Unavailable,
)
from shared.paths import COMPUTE_MARKET_DATA_PATH, COMPUTE_RUN_PATH
from shared.signing import ServiceSignature
from shared.web.request_context import REQUEST_ID_HEADER
from shared.web.request_context import request_id as current_request_id

DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=3.0, pool=10.0)
# An import parses and checks every row of an upload (a million rows take seconds).
IMPORT_TIMEOUT = httpx.Timeout(300.0, connect=3.0, pool=10.0)
# The compute service answers fast and queues the work; a few connections carry any load,
# and a small pool keeps httpx's per-request connection bookkeeping cheap.
CONNECTION_LIMITS = httpx.Limits(max_connections=16, max_keepalive_connections=16)


class BacktestServiceUnavailable(Unavailable):
    """Not reachable, timed out or answered 5xx: worth trying again later."""


class BacktestServiceRejected(Exception):
    """Answered 4xx: trying again will not help. `detail` is the compute service's."""

    def __init__(self, status_code: int, detail: Any) -> None:
        super().__init__(f"compute service answered {status_code}: {detail}")
        self.status_code = status_code
        self.detail = detail

    def as_domain_error(self) -> DomainError:
        """The same verdict, said to the member: a 404 is a 404, a 422 keeps its body;
        anything else is the compute service's fault (502)."""
        relayed = _RELAYED.get(self.status_code)
        return relayed(self.detail) if relayed else BadGateway(str(self))


_RELAYED: dict[int, type[DomainError]] = {
    error.status_code: error
    for error in (Forbidden, NotFound, Conflict, PayloadTooLarge, InvalidInput)
}


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
        body = await self._send(
            "POST",
            COMPUTE_RUN_PATH,
            content=request.model_dump_json(),
            request_id=request.request_id,
        )
        return RunBacktestAccepted.model_validate(body)

    async def get_backtest_status(self, execution_id: str) -> BacktestExecution:
        body = await self._send("GET", f"/backtest/{execution_id}/status")
        return BacktestExecution.model_validate(body)

    async def get_trades(self, execution_id: str, offset: int, limit: int) -> TradePage:
        body = await self._send(
            "GET", f"/backtest/{execution_id}/trades", params={"offset": offset, "limit": limit}
        )
        return TradePage.model_validate(body)

    async def cancel_backtest(self, execution_id: str) -> BacktestExecution:
        """Cancel; raises BacktestServiceRejected with 409 when it already finished."""
        body = await self._send("DELETE", f"/backtest/{execution_id}")
        return BacktestExecution.model_validate(body)

    async def remove_execution(self, execution_id: str) -> None:
        """Delete a finished execution and its trades; 404 and 409 raise
        BacktestServiceRejected."""
        await self._send("DELETE", f"/backtest/{execution_id}/record")

    async def import_bars(
        self, content: bytes, table_format: TableFormat, options: ImportOptions
    ) -> ImportOutcome:
        """Have the compute service import a file of bars as `options.symbol` for
        `options.owner_id`; its refusals raise BacktestServiceRejected."""
        query = {
            "owner_id": options.owner_id,
            "format": table_format.value,
            "mode": options.mode.value,
            "duplicates": options.duplicates.value,
            "session_start_minutes": options.session_start_minutes,
        }
        body = await self._send(
            "POST",
            f"{COMPUTE_MARKET_DATA_PATH}/{options.symbol}",
            content=content,
            params={name: value for name, value in query.items() if value is not None},
            media_type="application/octet-stream",
            http_timeout=IMPORT_TIMEOUT,
        )
        return ImportOutcome.model_validate(body)

    async def get_candles(self, symbol: str, query: dict[str, Any]) -> Candles:
        """A symbol's bars for a chart; 404 and 422 raise BacktestServiceRejected."""
        body = await self._send(
            "GET",
            f"{COMPUTE_MARKET_DATA_PATH}/{symbol}/bars",
            params={name: value for name, value in query.items() if value is not None},
        )
        return Candles.model_validate(body)

    async def delete_symbol(self, symbol: str, owner_id: str) -> None:
        """Delete a symbol's bars, if `owner_id` imported it."""
        await self._send(
            "DELETE", f"{COMPUTE_MARKET_DATA_PATH}/{symbol}", params={"owner_id": owner_id}
        )

    async def health(self) -> dict[str, Any]:
        """The compute service's health report, whatever its status code."""
        try:
            response = await self._http.get("/health")
            report: dict[str, Any] = response.json()
        except (httpx.HTTPError, ValueError) as error:
            raise BacktestServiceUnavailable(_unreachable(error)) from error
        return report

    async def _send(
        self,
        method: str,
        path: str,
        content: str | bytes | None = None,
        params: dict[str, Any] | None = None,
        media_type: str = "application/json",
        http_timeout: httpx.Timeout | None = None,
        request_id: str | None = None,
    ) -> Any:
        """`request_id`: the member's request this call serves, by default the one being
        answered; sent on so both services' log lines of it share the id."""
        headers = {"Content-Type": media_type} if content is not None else {}
        if sent_id := request_id or current_request_id.get():
            headers[REQUEST_ID_HEADER] = sent_id
        try:
            response = await self._http.request(
                method,
                path,
                content=content,
                params=params,
                headers=headers,
                timeout=http_timeout or self._http.timeout,
            )
        except httpx.HTTPError as error:
            raise BacktestServiceUnavailable(_unreachable(error)) from error
        if response.status_code >= 500:
            raise BacktestServiceUnavailable(f"compute service answered {response.status_code}")
        if response.status_code >= 400:
            raise BacktestServiceRejected(response.status_code, _detail(response))
        return response.json() if response.content else None


def _unreachable(error: Exception) -> str:
    """What went wrong, in words (httpx's own message; its name when it has none)."""
    return f"compute service unreachable: {str(error) or type(error).__name__}"


def _detail(response: httpx.Response) -> Any:
    """The compute service's error body whole (message, refused fields, import report),
    so relaying it tells the member everything it said."""
    try:
        body = response.json()
    except ValueError:
        return response.text
    return body if isinstance(body, dict) and "detail" in body else response.text
