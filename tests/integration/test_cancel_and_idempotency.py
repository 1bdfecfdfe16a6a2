"""Cancelling, repeating, racing and deleting: one execution per backtest, one final
state, and nothing left behind by a deleted one."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from helpers import (
    Stack,
    backtest_params,
    cancellable_sweep_params,
    long_run_params,
    strategy_fields,
    wait_for_backtest,
    wait_for_idle_workers,
)
from pymongo.database import Database

from backend.services.dispatch import RECORD_HANDOVER_AFTER_S
from shared.contracts.executions import ExecutionReport
from shared.mongo import Document
from shared.signing import ServiceSignature

pytestmark = pytest.mark.integration


def test_cancel_stops_a_running_backtest_within_a_second(
    stack: Stack,
    api: httpx.Client,
    create_strategy: Callable[..., dict[str, Any]],
    long_symbol: str,
) -> None:
    strategy = create_strategy(symbol=long_symbol, timeframe="1m")
    wait_for_idle_workers(stack.services_url)  # so that a busy worker can only be ours
    # An optimization: seconds of work even when a worker holds the bars already.
    path = f"/api/strategy/{strategy['id']}/optimize"
    started = api.post(path, json=cancellable_sweep_params()).json()
    # Into its combinations (past loading its bars), each a progress report that asks
    # whether the run was cancelled.
    wait_for_backtest(api, started["id"], until=lambda b: b["progress"] >= 55)

    cancelled = api.delete(f"/api/backtest/{started['id']}")

    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    deadline = time.monotonic() + 1.0
    while True:
        # Judged by when the question was asked: a slow answer is not a busy worker.
        asked = time.monotonic()
        if httpx.get(f"{stack.services_url}/health").json()["worker_pool"]["busy"] == 0:
            break
        assert asked < deadline, "worker still busy a second after the cancel"
        time.sleep(0.05)
    time.sleep(0.5)
    backtest = api.get(f"/api/backtest/{started['id']}").json()
    assert backtest["status"] == "cancelled"
    assert backtest["result"] is None
    assert backtest["progress"] >= 55  # as far as it got: progress never goes back


def test_a_backtest_cancelled_before_its_hand_over_is_recorded_is_cancelled_there_too(
    stack: Stack,
    api: httpx.Client,
    db: Database[Document],
    create_strategy: Callable[..., dict[str, Any]],
    long_symbol: str,
) -> None:
    """Its hand-over is recorded only RECORD_HANDOVER_AFTER_S after it; a cancel in
    between reaches the compute service through the execution the API holds."""
    strategy = create_strategy(symbol=long_symbol, timeframe="1m")
    wait_for_idle_workers(stack.services_url)
    path = f"/api/strategy/{strategy['id']}/optimize"
    started = api.post(path, json=cancellable_sweep_params()).json()
    # Handed over (the API holds its execution), its hand-over not recorded yet.
    wait_for_backtest(api, started["id"], until=lambda b: b["execution_id"] is not None)

    cancelled = api.delete(f"/api/backtest/{started['id']}")
    execution = db["executions"].find_one({"backtest_id": started["id"]})

    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert execution is not None
    assert execution["status"] == "cancelled"  # there already, not a hold later
    wait_for_idle_workers(stack.services_url)


def test_a_run_that_ends_before_its_hand_over_is_recorded_costs_no_such_write(
    stack: Stack,
    api: httpx.Client,
    db: Database[Document],
    create_strategy: Callable[..., dict[str, Any]],
    long_symbol: str,
) -> None:
    wait_for_idle_workers(stack.services_url)
    small = create_strategy()
    path = f"/api/strategy/{small['id']}/backtest"
    for _ in range(2):  # the first readies the workers (their bars, their connections)
        quick = api.post(path, json=backtest_params()).json()
        finished = wait_for_backtest(api, quick["id"])
    long = create_strategy(symbol=long_symbol, timeframe="1m")
    grid = {"fast": list(range(100, 400)), "slow": [800, 900, 1000]}  # minutes of work
    slow = api.post(
        f"/api/strategy/{long['id']}/optimize", json=long_run_params() | {"sweep": {"grid": grid}}
    )

    time.sleep(RECORD_HANDOVER_AFTER_S + 1.0)
    quick_record = db["backtests"].find_one({"_id": quick["id"]})
    slow_record = db["backtests"].find_one({"_id": slow.json()["id"]})
    api.delete(f"/api/backtest/{slow.json()['id']}")
    wait_for_idle_workers(stack.services_url)

    assert finished["status"] == "completed"
    assert quick_record is not None
    assert slow_record is not None
    assert quick_record["execution_id"] == finished["execution_id"]
    assert "dispatched" not in quick_record["stages"]
    assert slow_record["status"] == "queued"  # recorded: the run outlived the wait
    assert slow_record["execution_id"] is not None
    assert "dispatched" in slow_record["stages"]


def test_cancelling_a_finished_backtest_answers_409(
    api: httpx.Client, create_strategy: Callable[..., dict[str, Any]]
) -> None:
    strategy = create_strategy()
    started = api.post(f"/api/strategy/{strategy['id']}/backtest", json=backtest_params()).json()
    wait_for_backtest(api, started["id"])

    response = api.delete(f"/api/backtest/{started['id']}")

    assert response.status_code == 409
    assert api.get(f"/api/backtest/{started['id']}").json()["status"] == "completed"


def test_compute_service_cancel_of_unknown_execution_is_404(compute: httpx.Client) -> None:
    assert compute.delete("/backtest/no-such-execution").status_code == 404
    assert compute.get("/backtest/no-such-execution/status").status_code == 404


def test_repeated_backtest_id_returns_the_same_execution(
    api: httpx.Client, compute: httpx.Client, create_strategy: Callable[..., dict[str, Any]]
) -> None:
    strategy = create_strategy()
    started = api.post(f"/api/strategy/{strategy['id']}/backtest", json=backtest_params()).json()
    backtest = wait_for_backtest(api, started["id"])
    request = {
        "backtest_id": started["id"],
        "user_id": "someone",
        "strategy": {
            key: strategy[key]
            for key in ("id", "name", "symbol", "timeframe", "parameters", "costs")
        },
        "params": backtest_params(),
    }

    first = compute.post("/backtest/run", json=request)
    second = compute.post("/backtest/run", json=request)

    assert first.status_code == second.status_code == 202
    assert first.json()["execution_id"] == second.json()["execution_id"] == backtest["execution_id"]
    assert first.json()["status"] == "completed"


def test_save_result_is_idempotent_and_never_moves_a_final_backtest_back(
    stack: Stack, api: httpx.Client, create_strategy: Callable[..., dict[str, Any]]
) -> None:
    strategy = create_strategy()
    started = api.post(f"/api/strategy/{strategy['id']}/backtest", json=backtest_params()).json()
    backtest = wait_for_backtest(api, started["id"])
    report = ExecutionReport(
        execution_id=backtest["execution_id"],
        backtest_id=backtest["id"],
        status="failed",
        error="a late, contradicting report",
    )
    with httpx.Client(
        base_url=stack.api_url,
        auth=ServiceSignature(stack.secret),
        headers={"Content-Type": "application/json"},
    ) as backend:
        late = backend.post("/api/backtest/save_result", content=report.model_dump_json())
        unknown = backend.post(
            "/api/backtest/save_result",
            content=report.model_copy(update={"backtest_id": "missing"}).model_dump_json(),
        )
        foreign = backend.post(
            "/api/backtest/save_result",
            content=report.model_copy(update={"execution_id": "other"}).model_dump_json(),
        )

    assert late.status_code == 200
    assert late.json() == {"stored": False}
    assert unknown.status_code == 404
    assert foreign.status_code == 409
    after = api.get(f"/api/backtest/{backtest['id']}").json()
    assert after["status"] == "completed"
    assert after["result"] == backtest["result"]


def test_a_member_deletes_a_finished_backtest_with_its_trades(
    api: httpx.Client,
    db: Database[Document],
    create_strategy: Callable[..., dict[str, Any]],
) -> None:
    strategy = create_strategy()
    params = backtest_params()
    original = wait_for_backtest(
        api, api.post(f"/api/strategy/{strategy['id']}/backtest", json=params).json()["id"]
    )
    reused = api.post(f"/api/strategy/{strategy['id']}/backtest", json=params).json()
    execution_id = original["execution_id"]
    assert reused["result"]["cached"] is True

    # Deleting the one answered from it leaves the run's trades to the original.
    assert api.delete(f"/api/backtest/{reused['id']}", params={"purge": True}).status_code == 204
    trades = api.get(f"/api/backtest/{original['id']}/trades")
    assert trades.status_code == 200
    assert trades.json()["total"] == original["result"]["total_trades"] > 0

    deleted = api.delete(f"/api/backtest/{original['id']}", params={"purge": True})

    assert deleted.status_code == 204
    assert api.get(f"/api/backtest/{original['id']}").status_code == 404
    assert db["execution_trades"].count_documents({"execution_id": execution_id}) == 0
    assert db["executions"].count_documents({"_id": execution_id}) == 0
    listed = api.get(f"/api/strategy/{strategy['id']}/backtests").json()
    assert original["id"] not in [entry["id"] for entry in listed]


def test_a_running_backtest_is_not_deleted_and_another_members_is_not_found(
    new_client: Callable[[], httpx.Client], long_symbol: str
) -> None:
    owner, other = new_client(), new_client()
    strategy = owner.post("/api/strategy", json=strategy_fields(symbol=long_symbol, timeframe="1m"))
    started = owner.post(
        f"/api/strategy/{strategy.json()['id']}/backtest", json=long_run_params()
    ).json()

    running = owner.delete(f"/api/backtest/{started['id']}", params={"purge": True})
    foreign = other.delete(f"/api/backtest/{started['id']}", params={"purge": True})
    owner.delete(f"/api/backtest/{started['id']}")  # cancel

    assert running.status_code == 409
    assert "cancel it before deleting it" in running.json()["detail"]
    assert foreign.status_code == 404
