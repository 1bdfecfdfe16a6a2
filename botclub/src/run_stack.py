"""`botclub run`: the whole stack on this machine, with a demo backtest through the API.

MongoDB is MONGO_URL when it answers, otherwise the embedded nx-27017 server storing in
`<data dir>/mongo/` (a file per database), kept across restarts. The sample series are loaded on
first start, a `demo` user gets a fresh token, and a demo backtest is submitted through
the real API, its progress and statistics printed. Then it serves until Ctrl-C,
starting again any process that dies (`supervisor`). While it runs, the commands given
the same data folder find its database and API through `stack_file`.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import time
from pathlib import Path
from typing import Any

import httpx

from backend.stores.tokens import issue_token
from backend.stores.users import USERS_COLLECTION
from backend_services.market_data.importer import load_missing_samples
from backend_services.market_data.store import ensure_indexes
from botclub.local_stack import (
    StackError,
    free_port,
    mongo_reachable,
    port_in_use,
    start_embedded_mongo,
    start_service,
)
from botclub.output import print_statistics
from botclub.stack_file import (
    NoStackRunning,
    RunningStack,
    forget_stack,
    running_stack,
    write_stack,
)
from botclub.supervisor import StackSupervisor
from shared.mongo import sync_client

DEMO_STRATEGY = {
    "name": "GOOG 10/30 SMA crossover",
    "description": "Buys when the 10-day average crosses above the 30-day one.",
    "symbol": "GOOG",
    "timeframe": "1d",
    "parameters": {"fast": 10, "slow": 30},
    "costs": {"commission_pct": 0.001},
}
DEMO_PARAMS = {
    "start_date": "2004-08-19T00:00:00Z",
    "end_date": "2013-03-01T00:00:00Z",
    "initial_capital": 10_000,
}
DEMO_TIMEOUT_S = 120.0


def run(data_dir: Path, backend_port: int, services_port: int) -> int:
    data_dir = data_dir.resolve()
    mongo_db = os.environ.get("MONGO_DB", "bot_club_db")
    secret = os.environ.get("SERVICE_SECRET") or secrets.token_urlsafe(32)
    log_dir = data_dir / "logs"
    with contextlib.suppress(NoStackRunning):
        other = running_stack(data_dir)
        raise StackError(
            f"a stack is already running from {data_dir} (pid {other.pid}, API "
            f"{other.api_url}); stop it first, or give another --data-dir"
        )
    for port in (backend_port, services_port):
        if port_in_use(port):
            raise StackError(f"port {port} is already in use; stop what uses it or pick another")
    api = f"http://127.0.0.1:{backend_port}"
    stack = RunningStack(pid=os.getpid(), mongo_url="", mongo_db=mongo_db, api_url=api)

    def publish() -> None:
        stack.processes = supervisor.pids()
        write_stack(data_dir, stack)

    supervisor = StackSupervisor(on_change=publish)
    for stop_signal in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(stop_signal, _stop_requested)
    try:
        mongo_url = os.environ.get("MONGO_URL", "")
        if mongo_url and mongo_reachable(mongo_url):
            print(f"MongoDB: {mongo_url}")
        else:
            port = free_port()
            supervisor.start(lambda: start_embedded_mongo(data_dir / "mongo", port, log_dir))
            mongo_url = f"mongodb://127.0.0.1:{port}"
            print(f"MongoDB: embedded nx-27017 at {mongo_url} (data in {data_dir / 'mongo'})")
        stack.mongo_url = mongo_url
        token = _prepare_database(mongo_url, mongo_db)
        common = {"MONGO_URL": mongo_url, "MONGO_DB": mongo_db, "SERVICE_SECRET": secret}
        services = supervisor.start(
            lambda: start_service(
                "backend_services",
                services_port,
                common
                | {
                    "SERVICE_PORT": str(services_port),
                    "API_SERVICE_URL": api,
                    "MARKET_DATA_FILES_DIR": str(data_dir / "bars"),
                },
                log_dir,
            )
        )
        backend = supervisor.start(
            lambda: start_service(
                "backend",
                backend_port,
                common | {"BACKEND_SERVICES_URL": f"http://127.0.0.1:{services_port}"},
                log_dir,
            )
        )
        publish()
        print(
            f"backend_services: http://127.0.0.1:{services_port} (pid {services.pid})   "
            f"backend: {api} (pid {backend.pid})   logs: {log_dir}"
        )
        print(f"demo user token: {token}")
        run_demo(api, token)
        print(f"\nServing. Dashboard at {api}/ (botclub create-user NAME --password to sign in),")
        print(f"API docs at {api}/docs. A process that dies is started again. Ctrl-C stops all.")
        supervisor.watch()
    except KeyboardInterrupt:
        print("\nStopping...")
        return 0
    finally:
        forget_stack(data_dir, os.getpid())
        supervisor.stop()


def _stop_requested(signum: int, frame: object) -> None:
    """Ctrl-C, SIGTERM and SIGHUP stop the stack; SIGINT is set explicitly because a
    shell starts background jobs with it ignored."""
    raise KeyboardInterrupt


def _prepare_database(mongo_url: str, mongo_db: str) -> str:
    """Load the sample series if missing; return a fresh token for the `demo` user."""
    client = sync_client(mongo_url)
    try:
        database = client[mongo_db]
        ensure_indexes(database)
        for entry in load_missing_samples(database):
            print(f"loaded sample {entry.symbol}: {entry.rows} {entry.timeframe} bars")
        _, token = issue_token(database[USERS_COLLECTION], "demo")
        return token
    finally:
        client.close()


def run_demo(api: str, token: str) -> None:
    """Create the demo strategy, backtest it through the API and print what happens."""
    with httpx.Client(
        base_url=api, headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as http:
        strategy = _ok(http.post("/api/strategy", json=DEMO_STRATEGY))
        backtest = _ok(http.post(f"/api/strategy/{strategy['id']}/backtest", json=DEMO_PARAMS))
        print(f"\nDemo backtest {backtest['id']}: {strategy['name']}")
        deadline = time.monotonic() + DEMO_TIMEOUT_S
        shown = None
        while backtest["status"] not in ("completed", "failed", "cancelled"):
            if time.monotonic() > deadline:
                raise StackError(
                    f"demo backtest still {backtest['status']} after {DEMO_TIMEOUT_S:.0f} s"
                )
            if (backtest["status"], backtest["progress"]) != shown:
                shown = (backtest["status"], backtest["progress"])
                print(f"  {backtest['status']:<9} {backtest['progress']:5.1f} %")
            time.sleep(0.2)
            backtest = _ok(http.get(f"/api/backtest/{backtest['id']}"))
    print(f"  {backtest['status']:<9} {backtest['progress']:5.1f} %")
    if backtest["status"] != "completed":
        raise StackError(f"demo backtest {backtest['status']}: {backtest['error']}")
    print()
    print_statistics(backtest["result"])


def _ok(response: httpx.Response) -> Any:
    if response.is_error:
        request = response.request
        raise StackError(
            f"{request.method} {request.url.path}: {response.status_code} {response.text}"
        )
    return response.json()
