"""The member commands' HTTP client: the API's answers as data, its refusals as one-line
CommandFailed with the exit code that fits."""

from __future__ import annotations

from typing import Any

import httpx

from botclub.failures import CommandFailed, ExitCode, exit_code_for
from botclub.member_config import MemberConfig

__all__ = ["ApiClient", "describe_error"]

TIMEOUT = httpx.Timeout(30.0, connect=5.0)
# Imports parse and check every row before answering.
UPLOAD_TIMEOUT = httpx.Timeout(600.0, connect=5.0)


class ApiClient:
    def __init__(self, config: MemberConfig, require_token: bool = True) -> None:
        if require_token and not config.token:
            raise CommandFailed(
                "not signed in", ExitCode.NOT_SIGNED_IN, "botclub login --token TOKEN"
            )
        headers = {"Authorization": f"Bearer {config.token}"} if config.token else {}
        self.server = config.server
        self._http = httpx.Client(base_url=config.server, headers=headers, timeout=TIMEOUT)

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._http.close()

    def get(self, path: str, **params: Any) -> Any:
        return self._call("GET", path, params=_present(params))

    def download(self, path: str) -> bytes:
        """A file the API serves (a CSV export, a report), as its bytes."""
        response: httpx.Response = self._call("GET", path, raw=True)
        return response.content

    def post(self, path: str, body: Any) -> Any:
        return self._call("POST", path, json=body)

    def put(self, path: str, body: Any) -> Any:
        return self._call("PUT", path, json=body)

    def delete(self, path: str, **params: Any) -> Any:
        return self._call("DELETE", path, params=_present(params))

    def upload(self, path: str, name: str, content: bytes, **params: Any) -> Any:
        return self._call(
            "POST",
            path,
            params=_present(params),
            files={"file": (name, content)},
            timeout=UPLOAD_TIMEOUT,
        )

    def _call(self, method: str, path: str, raw: bool = False, **options: Any) -> Any:
        """The answer's JSON (the response itself when `raw`); CommandFailed otherwise."""
        try:
            response = self._http.request(method, path, **options)
        except httpx.HTTPError as error:
            raise CommandFailed(
                f"cannot reach {self.server}: {error}",
                ExitCode.UNREACHABLE,
                "start the stack with `botclub run`, or sign in to another server with "
                "`botclub login --server URL`",
            ) from None
        if response.is_success:
            if raw:
                return response
            return response.json() if response.content else None
        code = exit_code_for(response.status_code)
        hint = "botclub login --token TOKEN" if code is ExitCode.NOT_SIGNED_IN else ""
        raise CommandFailed(describe_error(response), code, hint)


def describe_error(response: httpx.Response) -> str:
    """The API's error body as one readable line, status first: the refused fields or
    an upload's problem rows when it names them, its message otherwise."""
    try:
        body = response.json()
    except ValueError:
        return f"{response.status_code}: {response.text.strip() or response.reason_phrase}"
    problems = (body.get("report") or {}).get("problems") or []
    if problems:
        said = "; ".join(f"{p['problem']} (rows {_rows(p['rows'])})" for p in problems)
    elif body.get("errors"):
        said = "; ".join(_field_error(error) for error in body["errors"])
    else:
        said = str(body.get("detail", body))
    return f"{response.status_code}: {said}"


def _field_error(error: dict[str, Any]) -> str:
    where = ".".join(str(part) for part in error["loc"] if part not in ("body", "query", "path"))
    return f"{where}: {error['msg']}" if where else str(error["msg"])


def _rows(rows: list[int]) -> str:
    return ", ".join(str(row) for row in rows[:5]) + (", ..." if len(rows) > 5 else "")


def _present(params: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in params.items() if value is not None}
