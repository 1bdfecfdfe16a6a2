"""Faults injected into real processes: nothing is lost, nothing runs twice, nothing
stays stuck. Each test runs its own pair of services, with short timings, against a
database of its own, and kills or restarts them as a crash or an outage would."""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers import (
    FINAL,
    Mongo,
    Stack,
    backtest_params,
    database_of_its_own,
    import_long_symbol,
    long_run_params,
    long_sweep_params,
    member_clients,
    submit_backtest,
    wait_for,
    wait_for_backtest,
)
from pymongo.database import Database

from backend.stores.tokens import issue_token
from backend.stores.users import USERS_COLLECTION
from backend_services.market_data.importer import load_missing_samples
from backend_services.market_data.store import ensure_indexes
from botclub.local_stack import ChildProcess, free_port, start_embedded_mongo
from shared.contracts.executions import ExecutionReport
from shared.mongo import Document, sync_client
from shared.packed import unpacked
from shared.signing import ServiceSignature

pytestmark = pytest.mark.integration

FAST_RECOVERY = {
    "WORKERS": "1",
    "HEARTBEAT_INTERVAL_S": "0.5",
    "HEARTBEAT_TIMEOUT_S": "3",
    "SUPERVISE_INTERVAL_S": "0.5",
    "RECONCILE_AFTER_S": "2",
    "DELIVERY_MAX_DELAY_S": "1",
    "DISPATCH_ATTEMPTS": "2",
}


@pytest.fixture(scope="module")
def fault_db(mongo: Mongo) -> Iterator[Database[Document]]:
    with database_of_its_own(mongo, "faults") as database:
        yield database


@pytest.fixture
def services(mongo: Mongo, fault_db: Database[Document], logs_dir: Path) -> Iterator[Stack]:
    """A pair of services that the test starts, kills and restarts itself."""
    pair = Stack(
        mongo_url=mongo.url,
        database_name=fault_db.name,
        logs_dir=logs_dir,
        secret=uuid.uuid4().hex,
        extra_env=FAST_RECOVERY,
    )
    yield pair
    pair.stop()


@pytest.fixture
def member(services: Stack, fault_db: Database[Document]) -> Iterator[Callable[[], httpx.Client]]:
    with member_clients(fault_db[USERS_COLLECTION], services.api_url) as make:
        yield make


def _start_long_run(
    services: Stack, member: Callable[[], httpx.Client]
) -> tuple[httpx.Client, str]:
    """Both services up, and an optimization (seconds of work, however warm the worker)
    caught while running."""
    services.start_backend_services()
    services.start_backend()
    api = member()
    backtest_id = submit_backtest(
        api, long_sweep_params(), action="optimize", symbol="SYNTH1M", timeframe="1m"
    )
    wait_for_backtest(api, backtest_id, until=lambda b: b["status"] == "running")
    return api, backtest_id


def _execution_of(db: Database[Document], backtest_id: str) -> Document:
    executions = list(db["executions"].find({"backtest_id": backtest_id}))
    assert len(executions) == 1, "one execution per backtest"
    return executions[0]


def _worker_pids(parent: ChildProcess) -> list[int]:
    """The pool's worker processes: children of the service started by multiprocessing."""
    return [pid for pid in _children_of(parent.pid) if b"multiprocessing.spawn" in _command(pid)]


def _command(pid: int) -> bytes:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes()
    except OSError:
        return b""


def test_killed_worker_process_is_replaced_and_the_run_completes(
    services: Stack, member: Callable[[], httpx.Client], fault_db: Database[Document]
) -> None:
    api, backtest_id = _start_long_run(services, member)
    assert services.backend_services is not None
    workers = _worker_pids(services.backend_services)
    assert workers

    for pid in workers:
        os.kill(pid, signal.SIGKILL)

    backtest = wait_for_backtest(api, backtest_id, timeout_s=120)
    assert backtest["status"] == "completed", backtest["error"]
    assert _execution_of(fault_db, backtest_id)["attempts"] == 2


def test_compute_service_killed_mid_run_finishes_the_run_after_restart(
    services: Stack, member: Callable[[], httpx.Client], fault_db: Database[Document]
) -> None:
    api, backtest_id = _start_long_run(services, member)
    assert services.backend_services is not None

    services.backend_services.kill()
    services.start_backend_services()

    backtest = wait_for_backtest(api, backtest_id, timeout_s=120)
    assert backtest["status"] == "completed", backtest["error"]
    execution = wait_for(
        lambda: _execution_of(fault_db, backtest_id), lambda e: e["delivered_at"] is not None, 30
    )
    assert execution["attempts"] == 2


def test_result_waiting_while_backend_is_down_is_delivered_when_it_returns(
    services: Stack, member: Callable[[], httpx.Client], fault_db: Database[Document]
) -> None:
    api, backtest_id = _start_long_run(services, member)
    assert services.backend is not None

    services.backend.stop()
    finished = wait_for(
        lambda: _execution_of(fault_db, backtest_id), lambda e: e["status"] in FINAL, 120
    )
    assert finished["delivered_at"] is None
    time.sleep(2)  # a few delivery attempts fail meanwhile
    services.start_backend()

    delivered = wait_for(
        lambda: _execution_of(fault_db, backtest_id), lambda e: e["delivered_at"] is not None, 30
    )
    assert delivered["status"] == "completed"
    backtest = wait_for_backtest(api, backtest_id)
    assert backtest["status"] == "completed"
    assert backtest["result"]["total_return"] == unpacked(delivered["result"])["total_return"]


def test_backtest_submitted_while_compute_is_down_runs_once_it_is_back(
    services: Stack, member: Callable[[], httpx.Client], fault_db: Database[Document]
) -> None:
    services.start_backend()
    api = member()
    backtest_id = submit_backtest(api, backtest_params())

    waiting = wait_for_backtest(api, backtest_id, until=lambda b: b["error"] is not None)
    assert waiting["status"] == "pending"
    assert "unreachable" in waiting["error"]
    time.sleep(1)
    assert api.get(f"/api/backtest/{backtest_id}").json()["status"] == "pending"

    services.start_backend_services()

    backtest = wait_for_backtest(api, backtest_id, timeout_s=30)
    assert backtest["status"] == "completed", backtest["error"]
    assert backtest["error"] is None
    assert _execution_of(fault_db, backtest_id)["attempts"] == 1


def test_callback_delivered_twice_stores_one_result(
    services: Stack, member: Callable[[], httpx.Client], fault_db: Database[Document]
) -> None:
    services.extra_env["RECONCILE_AFTER_S"] = "600"
    services.start_backend_services()
    services.start_backend()
    api = member()
    backtest_id = submit_backtest(api, backtest_params())
    finished = wait_for_backtest(api, backtest_id)
    # As if the first callback had been lost: the backend still thinks it is running.
    fault_db["backtests"].update_one(
        {"_id": backtest_id}, {"$set": {"status": "running", "result": None, "progress": 50}}
    )
    with httpx.Client(auth=ServiceSignature(services.secret), timeout=30) as signed:
        execution = signed.get(
            f"{services.services_url}/backtest/{finished['execution_id']}/status"
        ).json()
        report = ExecutionReport.model_validate(
            {key: execution[key] for key in ("status", "end_time", "result", "error")}
            | {"execution_id": execution["id"], "backtest_id": execution["backtest_id"]}
        ).model_dump_json()
        first, second = (
            signed.post(
                f"{services.api_url}/api/backtest/save_result",
                content=report,
                headers={"Content-Type": "application/json"},
            )
            for _ in range(2)
        )

    assert (first.status_code, first.json()) == (200, {"stored": True})
    assert (second.status_code, second.json()) == (200, {"stored": False})
    backtest = api.get(f"/api/backtest/{backtest_id}").json()
    assert backtest["status"] == "completed"
    assert backtest["result"] == finished["result"]


def test_cancel_racing_completion_ends_in_the_same_final_state_on_both_sides(
    services: Stack, member: Callable[[], httpx.Client], fault_db: Database[Document]
) -> None:
    services.start_backend_services()
    services.start_backend()
    api = member()
    for delay_s in (0.0, 0.02, 0.05, 0.1, 0.2, 0.4):
        backtest_id = submit_backtest(api, backtest_params())
        time.sleep(delay_s)
        cancel = api.delete(f"/api/backtest/{backtest_id}")
        assert cancel.status_code in (200, 409)
        backtest = wait_for_backtest(api, backtest_id)
        assert backtest["status"] == ("cancelled" if cancel.status_code == 200 else "completed")
        _assert_compute_agrees(fault_db, backtest)


def _assert_compute_agrees(db: Database[Document], backtest: dict[str, Any]) -> None:
    """The compute service ends in the backtest's final state, if it ever had the run."""
    deadline = time.monotonic() + 30
    while True:
        executions = list(db["executions"].find({"backtest_id": backtest["id"]}))
        assert len(executions) <= 1
        if not executions and backtest["status"] == "cancelled":
            return  # cancelled before it was handed over: nothing ran
        if executions and executions[0]["delivered_at"] is not None:
            assert executions[0]["status"] == backtest["status"]
            return
        assert time.monotonic() < deadline, f"compute side never settled: {executions}"
        time.sleep(0.1)


def test_embedded_mongodb_restarted_mid_flow_both_services_recover(
    mongo: Mongo, logs_dir: Path, tmp_path: Path
) -> None:
    if mongo.process is None:
        pytest.skip("MONGO_URL points at an external MongoDB, which this test cannot restart")
    port = free_port()
    data_dir = tmp_path / "restart"
    server = start_embedded_mongo(data_dir, port, logs_dir)
    url = f"mongodb://127.0.0.1:{port}"
    client = sync_client(url)
    database = client["bot_club_restart"]
    ensure_indexes(database)
    load_missing_samples(database)
    import_long_symbol(database)
    _, token = issue_token(database[USERS_COLLECTION], "restart-member")
    pair = Stack(
        mongo_url=url,
        database_name=database.name,
        logs_dir=logs_dir,
        secret=uuid.uuid4().hex,
        extra_env=FAST_RECOVERY,
    )
    try:
        pair.start_backend_services()
        pair.start_backend()
        api = httpx.Client(
            base_url=pair.api_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        in_flight = submit_backtest(api, long_run_params(), symbol="SYNTH1M", timeframe="1m")
        wait_for_backtest(api, in_flight, until=lambda b: b["status"] == "running")

        server.stop()
        time.sleep(1)
        server = start_embedded_mongo(data_dir, port, logs_dir)

        assert wait_for_backtest(api, in_flight, timeout_s=180)["status"] == "completed"
        after = submit_backtest(api, backtest_params())
        assert wait_for_backtest(api, after, timeout_s=60)["status"] == "completed"
        health = wait_for(
            lambda: httpx.get(f"{pair.api_url}/api/health").json(),
            lambda h: h["status"] == "ok" and h["backend_services"]["status"] == "ok",
            30,
        )
        assert health["mongo"] is True
        api.close()
    finally:
        pair.stop()
        client.close()
        server.stop()


def _children_of(pid: int) -> list[int]:
    """Every process whose parent is `pid`."""
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid:
            children.append(int(entry.name))
    return children


def _gone(pid: int) -> bool:
    """Exited (a zombie waiting for PID 1 to reap it has exited too)."""
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state in ("Z", "X")


def _still_alive_after(pids: list[int], timeout_s: float) -> list[int]:
    deadline = time.monotonic() + timeout_s
    alive = [pid for pid in pids if not _gone(pid)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.1)
        alive = [pid for pid in alive if not _gone(pid)]
    return alive


def _with_an_import_process(services: Stack, member: Callable[[], httpx.Client]) -> ChildProcess:
    """Both services up; a backtest has started a worker process, and an upload run in
    one of the compute service's import processes."""
    services.start_backend_services()
    services.start_backend()
    api = member()
    rows = "\n".join(f"2020-01-{day:02d},10,11,9,10,1" for day in range(1, 11))
    uploaded = api.post(
        f"/api/market-data/symbols/KIDS{uuid.uuid4().hex[:6].upper()}",
        content=f"Date,Open,High,Low,Close,Volume\n{rows}".encode(),
        headers={"Content-Type": "text/csv"},
    )
    assert uploaded.status_code == 201, uploaded.text
    assert wait_for_backtest(api, submit_backtest(api, backtest_params()))["status"] == "completed"
    api.close()
    assert services.backend_services is not None
    return services.backend_services


def test_a_service_killed_with_sigkill_takes_its_child_processes_with_it(
    services: Stack, member: Callable[[], httpx.Client]
) -> None:
    compute = _with_an_import_process(services, member)
    children = _children_of(compute.pid)
    assert len(_worker_pids(compute)) == 3  # the backtest worker and the two import processes

    os.kill(compute.pid, signal.SIGKILL)
    compute.process.wait()

    assert _still_alive_after(children, 5.0) == []


def test_ctrl_c_to_the_process_group_stops_every_process_in_it(
    services: Stack, member: Callable[[], httpx.Client]
) -> None:
    compute = _with_an_import_process(services, member)
    children = _children_of(compute.pid)
    assert children

    os.killpg(compute.pid, signal.SIGINT)  # what a terminal's Ctrl-C sends

    compute.process.wait(20)
    assert _still_alive_after(children, 10.0) == []
