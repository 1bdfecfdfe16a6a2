"""Helpers the tests share: what the fixtures yield, request bodies, polling."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from backend_services.local_stack import ChildProcess

FINAL = ("completed", "failed", "cancelled")


@dataclass
class Mongo:
    url: str
    database_name: str
    process: ChildProcess | None


@dataclass
class Stack:
    api_url: str
    services_url: str
    secret: str
    backend: ChildProcess
    backend_services: ChildProcess


def strategy_fields(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "SMA 10/30",
        "symbol": "GOOG",
        "timeframe": "1d",
        "parameters": {"fast": 10, "slow": 30},
        "costs": {"commission_pct": 0.001},
    } | overrides


def backtest_params(**overrides: Any) -> dict[str, Any]:
    return {
        "start_date": "2005-01-01T00:00:00Z",
        "end_date": "2012-12-31T00:00:00Z",
        "initial_capital": 10_000,
    } | overrides


def wait_for_backtest(
    api: httpx.Client,
    backtest_id: str,
    until: Callable[[dict[str, Any]], bool] = lambda b: b["status"] in FINAL,
    timeout_s: float = 60.0,
    seen: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Poll a backtest until `until(backtest)`; every state read is appended to `seen`."""
    deadline = time.monotonic() + timeout_s
    while True:
        response = api.get(f"/api/backtest/{backtest_id}")
        assert response.status_code == 200, response.text
        backtest: dict[str, Any] = response.json()
        if seen is not None:
            seen.append(backtest)
        if until(backtest):
            return backtest
        assert time.monotonic() < deadline, f"backtest stuck: {backtest['status']}"
        time.sleep(0.05)
