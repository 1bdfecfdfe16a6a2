"""A client generated from the API's own schema (openapi-python-client) signs in, saves
a strategy, runs a backtest, follows it and reads its trades and errors, with no code
written by hand against the API."""

from __future__ import annotations

import importlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from helpers import Stack, backtest_params, strategy_fields

pytestmark = pytest.mark.integration

PACKAGE = "bot_club_backtest_api_client"


@pytest.fixture(scope="module")
def generated(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """The package the generator makes from the live /openapi.json, imported."""
    folder = tmp_path_factory.mktemp("generated")
    schema = folder / "openapi.json"
    schema.write_bytes(httpx.get(f"{stack.api_url}/openapi.json").content)
    (folder / "config.yaml").write_text("post_hooks: []\n")
    generator = Path(sys.executable).parent / "openapi-python-client"
    made = subprocess.run(
        [str(generator), "generate", "--path", str(schema), "--meta", "none",
         "--config", str(folder / "config.yaml")],
        cwd=folder, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert made.returncode == 0, made.stdout + made.stderr
    assert "Warning" not in made.stdout, made.stdout
    sys.path.insert(0, str(folder))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(folder))
        for name in [name for name in sys.modules if name.startswith(PACKAGE)]:
            del sys.modules[name]


def operation(name: str) -> ModuleType:
    return importlib.import_module(f"{PACKAGE}.api.{name}")


def model(name: str) -> Any:
    """A model class of the generated package (its types are unknown to mypy)."""
    return getattr(importlib.import_module(f"{PACKAGE}.models"), name)


def test_a_generated_client_runs_a_backtest(
    generated: ModuleType, stack: Stack, api: httpx.Client
) -> None:
    token = api.headers["Authorization"].removeprefix("Bearer ")
    client = generated.AuthenticatedClient(base_url=stack.api_url, token=token)
    strategy_body = model("StrategyCreate").from_dict(strategy_fields())
    params_body = model("BacktestParams").from_dict(backtest_params())

    me = operation("users.me").sync(client=client)
    strategy = operation("strategies.create_strategy").sync(client=client, body=strategy_body)
    started = operation("strategies.start_backtest").sync(
        strategy.id, client=client, body=params_body
    )
    backtest = started
    deadline = time.monotonic() + 60
    while backtest.status.value not in ("completed", "failed", "cancelled"):
        assert time.monotonic() < deadline
        time.sleep(0.2)
        backtest = operation("backtests.get_backtest").sync(started.id, client=client)
    trades = operation("backtests.get_trades").sync(started.id, client=client, limit=5)

    assert me.name.startswith("member-")
    assert backtest.status.value == "completed"
    assert backtest.result.total_trades > 0
    assert trades.total == backtest.result.total_trades
    assert len(trades.trades) == 5


def test_a_generated_client_reads_errors_as_one_model(
    generated: ModuleType, stack: Stack, api: httpx.Client
) -> None:
    token = api.headers["Authorization"].removeprefix("Bearer ")
    client = generated.AuthenticatedClient(base_url=stack.api_url, token=token)
    refused_body = model("StrategyCreate").from_dict(strategy_fields(symbol="NOPE"))

    missing = operation("backtests.get_backtest").sync("no-such-backtest", client=client)
    refused = operation("strategies.create_strategy").sync(client=client, body=refused_body)

    error_body = model("ErrorBody")
    assert isinstance(missing, error_body)
    assert isinstance(refused, error_body)
    assert missing.detail == "backtest not found"
    assert refused.errors[0].loc == ["body", "symbol"]
    assert "no market data for symbol 'NOPE'" in refused.detail
