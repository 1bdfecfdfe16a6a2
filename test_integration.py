"""Check a running stack from the outside: health, a backtest from start to completion.

    python test_integration.py

Reads API_URL (default http://localhost:8000), BACKEND_SERVICES_URL (default
http://localhost:8001) and API_TOKEN (a user's token: `botclub create-user NAME`).
Prints progress as the backtest moves and exits non-zero on any failure.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import httpx

API_URL = os.environ.get("API_URL", "http://localhost:8000")
SERVICES_URL = os.environ.get("BACKEND_SERVICES_URL", "http://localhost:8001")
TIMEOUT_S = float(os.environ.get("CHECK_TIMEOUT_S", "120"))
RESULT_FIELDS = (
    "strategy_id",
    "total_return",
    "sharpe_ratio",
    "max_drawdown",
    "win_rate",
    "total_trades",
    "profit_factor",
    "trades",
    "equity_curve",
)


class CheckFailed(Exception):
    pass


def check(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


def expect(response: httpx.Response, status: int) -> Any:
    check(
        response.status_code == status,
        f"{response.request.method} {response.request.url} answered "
        f"{response.status_code}, expected {status}: {response.text[:300]}",
    )
    return response.json()


def run_check(token: str) -> None:
    compute_health = expect(httpx.get(f"{SERVICES_URL}/health", timeout=10), 200)
    api_health = expect(httpx.get(f"{API_URL}/api/health", timeout=10), 200)
    check(api_health["backend_services"] is not None, "backend cannot reach backend_services")
    print(f"health: compute {compute_health['status']}, api {api_health['status']}")

    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=API_URL, headers=headers, timeout=30) as api:
        strategy = expect(
            api.post(
                "/api/strategy",
                json={
                    "name": "integration check: SMA 20/50",
                    "symbol": "GOOG",
                    "timeframe": "1d",
                    "parameters": {"fast": 20, "slow": 50},
                },
            ),
            201,
        )
        backtest = expect(
            api.post(
                f"/api/strategy/{strategy['id']}/backtest",
                json={
                    "start_date": "2006-01-01T00:00:00Z",
                    "end_date": "2012-12-31T00:00:00Z",
                    "initial_capital": 25_000,
                },
            ),
            202,
        )
        print(f"backtest {backtest['id']} submitted")
        deadline = time.monotonic() + TIMEOUT_S
        last_progress = -1.0
        while backtest["status"] not in ("completed", "failed", "cancelled"):
            check(time.monotonic() < deadline, f"still {backtest['status']} after {TIMEOUT_S} s")
            time.sleep(0.2)
            backtest = expect(api.get(f"/api/backtest/{backtest['id']}"), 200)
            check(backtest["progress"] >= last_progress, "progress went backwards")
            if backtest["progress"] != last_progress:
                last_progress = backtest["progress"]
                print(f"  {backtest['status']:<9} {last_progress:5.1f} %")

    check(backtest["status"] == "completed", f"backtest {backtest['status']}: {backtest['error']}")
    result = backtest["result"]
    missing = [field for field in RESULT_FIELDS if field not in result]
    check(not missing, f"result lacks {missing}")
    check(result["total_trades"] == len(result["trades"]), "trade count disagrees with trades")
    check(result["max_drawdown"] <= 0, "max_drawdown must be a negative fraction")
    curve = result["equity_curve"]
    check(len(curve["time"]) == len(curve["equity"]) >= 2, "equity curve is empty or ragged")
    print(
        f"completed: total return {result['total_return']:.2%}, "
        f"Sharpe {result['sharpe_ratio']}, {result['total_trades']} trades"
    )


def main() -> int:
    token = os.environ.get("API_TOKEN")
    if not token:
        print("set API_TOKEN to a user's token (botclub create-user NAME)", file=sys.stderr)
        return 2
    try:
        run_check(token)
    except (CheckFailed, httpx.HTTPError) as failure:
        print(f"FAILED: {failure}", file=sys.stderr)
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
