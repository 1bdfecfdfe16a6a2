"""Helpers the tests share: the services under test, request bodies, polling."""

from __future__ import annotations

import asyncio
import csv
import itertools
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.collection import Collection
from pymongo.database import Database

from backend.stores.tokens import issue_token
from backend_services.market_data.importer import import_bars, load_missing_samples
from backend_services.market_data.store import ensure_indexes
from botclub.local_stack import ChildProcess, free_port, start_service
from shared.market_data.bars import Bars
from shared.mongo import Document, async_client, sync_client

FINAL = ("completed", "failed", "cancelled")
LONG_SYMBOL = "SYNTH1M"
LONG_SYMBOL_BARS = 2_000_000


@dataclass
class Mongo:
    url: str
    database_name: str
    process: ChildProcess | None


@dataclass
class Stack:
    """backend and backend_services on free ports, started and stopped on demand."""

    mongo_url: str
    database_name: str
    logs_dir: Path
    secret: str
    extra_env: dict[str, str] = field(default_factory=dict)
    api_port: int = field(default_factory=free_port)
    services_port: int = field(default_factory=free_port)
    backend: ChildProcess | None = None
    backend_services: ChildProcess | None = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def services_url(self) -> str:
        return f"http://127.0.0.1:{self.services_port}"

    def start_backend_services(self) -> None:
        self.backend_services = start_service(
            "backend_services",
            self.services_port,
            self._env()
            | {
                "SERVICE_PORT": str(self.services_port),
                "API_SERVICE_URL": self.api_url,
                # Beside the logs, in the session's temporary folder: removed with it.
                "MARKET_DATA_FILES_DIR": str(self.logs_dir / f"bars-{self.database_name}"),
            },
            self.logs_dir,
        )

    def start_backend(self) -> None:
        self.backend = start_service(
            "backend",
            self.api_port,
            self._env() | {"BACKEND_SERVICES_URL": self.services_url},
            self.logs_dir,
        )

    def stop(self) -> None:
        for child in (self.backend, self.backend_services):
            if child is not None:
                child.stop()

    def _env(self) -> dict[str, str]:
        return {
            "MONGO_URL": self.mongo_url,
            "MONGO_DB": self.database_name,
            "SERVICE_SECRET": self.secret,
        } | self.extra_env


_distinct_capital = itertools.count(10_000)
# The origin the session's stack lets browsers call from (CORS_ORIGINS).
CLUB_ORIGIN = "https://club.example.org"


def strategy_fields(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "SMA 10/30",
        "symbol": "GOOG",
        "timeframe": "1d",
        "parameters": {"fast": 10, "slow": 30},
        "costs": {"commission_pct": 0.001},
    } | overrides


def backtest_params(**overrides: Any) -> dict[str, Any]:
    """Params no earlier backtest of the session had (each call a different initial
    capital), so the backtest is computed rather than answered from a stored result;
    pass `initial_capital` to repeat one."""
    return {
        "start_date": "2005-01-01T00:00:00Z",
        "end_date": "2012-12-31T00:00:00Z",
        "initial_capital": next(_distinct_capital),
    } | overrides


def submit_backtest(
    api: httpx.Client, params: dict[str, Any], action: str = "backtest", **strategy: Any
) -> str:
    """A new strategy (strategy_fields with `strategy`) and its backtest, started by
    `action` (backtest or optimize); the backtest id."""
    created = api.post("/api/strategy", json=strategy_fields(**strategy))
    assert created.status_code == 201, created.text
    started = api.post(f"/api/strategy/{created.json()['id']}/{action}", json=params)
    assert started.status_code == 202, started.text
    backtest_id: str = started.json()["id"]
    return backtest_id


def long_run_params() -> dict[str, Any]:
    """A backtest of the long minute series that runs for seconds."""
    return backtest_params(
        start_date="2000-01-01T00:00:00Z",
        end_date="2030-01-01T00:00:00Z",
        timeframe="1m",
        parameters={"fast": 200, "slow": 800},
    )


def cancellable_sweep_params() -> dict[str, Any]:
    """An optimization of the long minute series' first 460,000 bars: 240 combinations,
    seconds of work in steps short enough (a fraction of a second each, where a run asks
    whether it was cancelled) that a cancel stops it within a second on a loaded machine."""
    return backtest_params(
        start_date="2020-01-01T00:00:00Z",
        end_date="2021-08-01T00:00:00Z",
        timeframe="1m",
        parameters={"fast": 200, "slow": 800},
    ) | {"sweep": {"grid": {"fast": list(range(100, 340)), "slow": [800]}}}


def long_sweep_params() -> dict[str, Any]:
    """An optimization of the long minute series: 120 runs over two million bars,
    seconds of steady progress even when the bars are cached (and the workers' memory
    warm)."""
    return long_run_params() | {"sweep": {"grid": {"fast": list(range(100, 220)), "slow": [800]}}}


def wait_for_backtest(
    api: httpx.Client,
    backtest_id: str,
    until: Callable[[dict[str, Any]], bool] = lambda b: b["status"] in FINAL,
    timeout_s: float = 60.0,
    seen: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Poll a backtest until `until(backtest)`; every state read is appended to `seen`."""
    return wait_for(lambda: _read(api, f"/api/backtest/{backtest_id}"), until, timeout_s, seen)


def wait_for(
    read: Callable[[], dict[str, Any]],
    until: Callable[[dict[str, Any]], bool],
    timeout_s: float = 60.0,
    seen: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        state = read()
        if seen is not None:
            seen.append(state)
        if until(state):
            return state
        assert time.monotonic() < deadline, f"condition not met in {timeout_s} s: {state}"
        time.sleep(0.05)


@contextmanager
def scratch_database(mongo: Mongo, suffix: str) -> Iterator[str]:
    """The name of a database of the tests' own beside the session's, dropped after."""
    name = f"{mongo.database_name}_{suffix}"
    try:
        yield name
    finally:
        client = sync_client(mongo.url)
        client.drop_database(name)
        client.close()


def run_with_async_database(
    mongo_url: str, name: str, body: Callable[[AsyncDatabase[Document]], Awaitable[None]]
) -> None:
    """`body` on the database `name` through an asynchronous client, as the API uses it."""

    async def main() -> None:
        client = async_client(mongo_url)
        try:
            await body(client[name])
        finally:
            await client.close()

    asyncio.run(main())


def wait_for_idle_workers(services_url: str, timeout_s: float = 30.0) -> None:
    """Until no worker of the compute service runs anything: a test that times its own
    run's worker must not count another test's run still ending (a cancelled run of the
    long series may still be reading its bars)."""
    wait_for(
        lambda: httpx.get(f"{services_url}/health").json()["worker_pool"],
        lambda pool: pool["busy"] == 0,
        timeout_s=timeout_s,
    )


def _read(api: httpx.Client, path: str) -> dict[str, Any]:
    response = api.get(path)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def daily_csv(days: int, start: str = "2020-01-01", price: float = 100.0) -> bytes:
    """`days` daily bars of a random walk as a CSV file, as a member uploads one."""
    rng = np.random.default_rng(days)
    close = price * np.exp(np.cumsum(rng.normal(0, 0.01, days)))
    frame = pd.DataFrame(
        {
            "Date": pd.date_range(start, periods=days, freq="D").strftime("%Y-%m-%d"),
            "Open": close,
            "High": close * 1.01,
            "Low": close * 0.99,
            "Close": close,
            "Volume": 1_000,
        }
    )
    return frame.to_csv(index=False).encode()


# The range the bars of `upload_symbol` (400 days by default) cover.
UPLOADED_RANGE = {"start_date": "2020-01-01T00:00:00Z", "end_date": "2021-02-01T00:00:00Z"}


def upload_symbol(api: httpx.Client, days: int = 400) -> str:
    """A new symbol of `days` daily bars from 2020-01-01, uploaded by `api`'s member."""
    symbol = f"S{uuid.uuid4().hex[:8].upper()}"
    response = api.post(
        f"/api/market-data/symbols/{symbol}",
        content=daily_csv(days),
        headers={"Content-Type": "text/csv"},
    )
    assert response.status_code == 201, response.text
    return symbol


def minute_walk(count: int, seed: int) -> Bars:
    """`count` one-minute bars of a random walk from 100, each opening at the previous
    close, their high and low a twentieth of a percent beyond open and close."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.001, count)))
    open_ = np.concatenate([[close[0]], close[:-1]])
    return Bars(
        time=1_600_000_020 // 60 * 60 + 60 * np.arange(count, dtype=np.int64),
        open=open_,
        high=np.maximum(open_, close) * 1.0005,
        low=np.minimum(open_, close) * 0.9995,
        close=close,
        volume=np.ones(count),
    )


def daily_bars(
    opens: Sequence[float] | np.ndarray,
    closes: Sequence[float] | np.ndarray,
    days: Sequence[int] = (),
) -> Bars:
    """Daily bars from 2001-09-09 with these opens and closes (on these days after it,
    by default one after another), their high and low the higher and lower of the two."""
    o, c = np.asarray(opens, dtype=float), np.asarray(closes, dtype=float)
    day = np.asarray(days or range(len(o)), dtype=np.int64)
    return Bars(
        time=1_000_000_000 // 86_400 * 86_400 + day * 86_400,
        open=o,
        high=np.maximum(o, c),
        low=np.minimum(o, c),
        close=c,
        volume=np.ones(len(o)),
    )


def import_long_symbol(db: Database[Document]) -> str:
    """A synthetic minute series long enough that a backtest on it runs for seconds."""
    import_bars(db, LONG_SYMBOL, minute_walk(LONG_SYMBOL_BARS, seed=7))
    return LONG_SYMBOL


SMA_YAML = """\
name: {name}
symbol: GOOG
timeframe: 1d
parameters: {{fast: 10, slow: 30}}
rules:
  long_entry: crossover(sma(close, fast), sma(close, slow))
  long_exit: crossunder(sma(close, fast), sma(close, slow))
costs: {{commission_pct: 0.001}}
"""


def run_botclub(
    home: Path, env: dict[str, str], *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`botclub ARGS` as a process of its own, with its config and state under `home`
    (run from there: a checkout's folders must not shadow the installed package)."""
    return subprocess.run(
        [sys.executable, "-m", "botclub.cli", *args],
        cwd=home,
        env={
            **os.environ,
            "XDG_CONFIG_HOME": str(home / "config"),
            "XDG_STATE_HOME": str(home / "state"),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@contextmanager
def database_of_its_own(mongo: Mongo, suffix: str) -> Iterator[Database[Document]]:
    """A database beside the session's, with the samples and the long symbol, dropped
    at the end: for tests that restart or kill the services using it."""
    client = sync_client(mongo.url)
    database = client[f"{mongo.database_name}_{suffix}"]
    ensure_indexes(database)
    load_missing_samples(database)
    import_long_symbol(database)
    try:
        yield database
    finally:
        client.drop_database(database.name)
        client.close()


@contextmanager
def member_clients(
    users: Collection[Document], api_url: str
) -> Iterator[Callable[[], httpx.Client]]:
    """A factory of API clients, each signed in as a brand-new member; closed at the end."""
    clients: list[httpx.Client] = []

    def make() -> httpx.Client:
        _, token = issue_token(users, f"member-{uuid.uuid4().hex[:8]}")
        client = httpx.Client(
            base_url=api_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        clients.append(client)
        return client

    try:
        yield make
    finally:
        for client in clients:
            client.close()


@contextmanager
def stack_of_its_own(mongo: Mongo, logs_dir: Path, suffix: str, **fields: Any) -> Iterator[Stack]:
    """A pair of services (not started: the test starts, stops and restarts them) in a
    database of their own, `fields` the Stack's others; stopped and the database dropped
    at the end."""
    database_name = f"{mongo.database_name}_{suffix}"
    fields.setdefault("secret", uuid.uuid4().hex)
    pair = Stack(mongo_url=mongo.url, database_name=database_name, logs_dir=logs_dir, **fields)
    try:
        yield pair
    finally:
        pair.stop()
        client = sync_client(mongo.url)
        client.drop_database(database_name)
        client.close()


def both_sides_backtest(api: httpx.Client) -> dict[str, Any]:
    """A completed backtest on GOOG of a crossover that trades long and short."""
    crossover, crossunder = (
        f"{kind}(sma(close, fast), sma(close, slow))" for kind in ("crossover", "crossunder")
    )
    rules = {
        "long_entry": crossover,
        "long_exit": crossunder,
        "short_entry": crossunder,
        "short_exit": crossover,
    }
    fields = strategy_fields(name="Both sides", rules=rules)
    strategy = api.post(
        "/api/strategy", json=fields | {"costs": {"commission_pct": 0.001, "fee_per_fill": 1}}
    ).json()
    started = api.post(f"/api/strategy/{strategy['id']}/backtest", json=backtest_params()).json()
    return wait_for_backtest(api, started["id"])


def csv_rows(text: str) -> list[dict[str, str]]:
    """A CSV export's rows, after the "# " lines that describe its run."""
    return list(csv.DictReader(line for line in text.splitlines() if not line.startswith("# ")))
