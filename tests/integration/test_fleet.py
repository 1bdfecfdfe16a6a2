"""Fleet mode (EXECUTOR=celery) with real processes, each test against both brokers
(the RabbitMQ on loopback, and a Redis the tests start: `fleet_brokers`): the services,
and `botclub worker` processes the tests start, kill and count.

Without a broker these tests are skipped (outside CI) with how to get one; under
CI=true a missing broker fails them.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fleet_brokers import FleetBroker, OwnRedis, RabbitMQ, remove_queue
from helpers import (
    FINAL,
    Mongo,
    Stack,
    backtest_params,
    database_of_its_own,
    long_run_params,
    long_sweep_params,
    member_clients,
    strategy_fields,
    submit_backtest,
    wait_for,
    wait_for_backtest,
)
from pymongo.database import Database

from backend.stores.users import USERS_COLLECTION
from backend_services.config import Settings
from backend_services.services.backtest.execution.fleet import HELP_TASK, RUN_TASK, fleet_app
from backend_services.services.backtest.execution.fleet_broker import (
    helper_priority,
    task_priority,
)
from botclub.local_stack import ChildProcess, free_port, spawn, wait_until
from shared.mongo import Document
from shared.paths import COMPUTE_RUN_PATH
from shared.signing import ServiceSignature

pytestmark = pytest.mark.integration

FLEET_TIMINGS = {
    "HEARTBEAT_INTERVAL_S": "0.5",
    "HEARTBEAT_TIMEOUT_S": "3",
    "SUPERVISE_INTERVAL_S": "1",
    "DELIVERY_MAX_DELAY_S": "1",
    "MAX_ATTEMPTS": "2",
    "SWEEP_PART_SIZE": "10",
}


@pytest.fixture(scope="module", params=["rabbitmq", "redis"])
def broker(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, logs_dir: Path
) -> Iterator[FleetBroker]:
    server: FleetBroker = (
        RabbitMQ()
        if request.param == "rabbitmq"
        else OwnRedis(tmp_path_factory.mktemp("redis"), logs_dir)
    )
    yield server
    server.close()


@pytest.fixture(scope="module")
def fleet_db(mongo: Mongo) -> Iterator[Database[Document]]:
    with database_of_its_own(mongo, "fleet") as database:
        yield database


class FleetStack(Stack):
    """The services' settings serve the workers too (MongoDB, broker, queue, timings)."""

    def worker_env(self) -> dict[str, str]:
        return self._env()


class Fleet:
    """The services in fleet mode over a queue of their own, and the workers a test
    starts."""

    def __init__(self, stack: FleetStack, logs_dir: Path) -> None:
        self.stack = stack
        self.logs_dir = logs_dir
        self.workers: list[ChildProcess] = []

    def start_worker(
        self,
        concurrency: int = 1,
        metrics_port: int = 0,
        mongo_url: str | None = None,
        settings: dict[str, str] | None = None,
    ) -> ChildProcess:
        name = f"worker-{uuid.uuid4().hex[:6]}"
        command = [
            str(Path(sys.executable).parent / "botclub"),
            "worker",
            f"--concurrency={concurrency}",
            f"--name={name}@%h",
            f"--metrics-port={metrics_port}",
        ]
        env = (
            self.stack.worker_env()
            | ({"MONGO_URL": mongo_url} if mongo_url else {})
            | (settings or {})
        )
        child = spawn(name, command, self.logs_dir, env)
        self.workers.append(child)
        wait_until(lambda: " ready." in child.log_tail(200), child, 60.0)
        return child

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()
        self.stack.stop()
        remove_queue(self.stack.extra_env["BROKER_URL"], self.stack.extra_env["FLEET_QUEUE"])


@pytest.fixture
def fleet_timings() -> dict[str, str]:
    """The fleet's timings; a test parametrized with `fleet_timings` sets its own."""
    return FLEET_TIMINGS


@pytest.fixture
def fleet(
    broker: FleetBroker,
    mongo: Mongo,
    fleet_db: Database[Document],
    logs_dir: Path,
    fleet_timings: dict[str, str],
) -> Iterator[Fleet]:
    stack = FleetStack(
        mongo_url=mongo.url,
        database_name=fleet_db.name,
        logs_dir=logs_dir,
        secret=uuid.uuid4().hex,
        extra_env=fleet_timings
        | {
            "LOG_FORMAT": "json",
            "EXECUTOR": "celery",
            "BROKER_URL": broker.url,
            "FLEET_QUEUE": f"backtests-test-{uuid.uuid4().hex[:8]}",
        },
    )
    fleet = Fleet(stack, logs_dir)
    stack.start_backend_services()
    stack.start_backend()
    yield fleet
    fleet.stop()


@pytest.fixture
def new_member(fleet: Fleet, fleet_db: Database[Document]) -> Iterator[Callable[[], httpx.Client]]:
    with member_clients(fleet_db[USERS_COLLECTION], fleet.stack.api_url) as make:
        yield make


@pytest.fixture
def member(new_member: Callable[[], httpx.Client]) -> httpx.Client:
    return new_member()


def _submit_long_run(api: httpx.Client) -> str:
    return submit_backtest(api, long_run_params(), symbol="SYNTH1M", timeframe="1m")


def _execution_of(db: Database[Document], backtest_id: str) -> Document:
    document = db["executions"].find_one({"backtest_id": backtest_id})
    assert document is not None, "the backtest reached the compute service"
    return document


def _wait_execution(
    db: Database[Document], backtest_id: str, until: Callable[[Document], bool], timeout_s: float
) -> Document:
    return wait_for(
        lambda: db["executions"].find_one({"backtest_id": backtest_id}) or {},
        lambda e: bool(e) and until(e),
        timeout_s,
    )


def _worker_pid(execution: Document) -> int:
    return int(execution["worker"].rsplit(":", 1)[1])


def _parent_of(pid: int) -> int:
    return int((Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[1])


def test_a_backtest_runs_on_a_fleet_worker_and_is_delivered(
    fleet: Fleet, member: httpx.Client, fleet_db: Database[Document]
) -> None:
    metrics_port = free_port()
    worker = fleet.start_worker(metrics_port=metrics_port)

    created = member.post("/api/strategy", json=strategy_fields())
    started = member.post(f"/api/strategy/{created.json()['id']}/backtest", json=backtest_params())
    assert started.status_code == 202, started.text
    backtest_id, request_id = started.json()["id"], started.headers["X-Request-ID"]

    backtest = wait_for_backtest(member, backtest_id, timeout_s=60)
    assert backtest["status"] == "completed", backtest["error"]
    assert backtest["result"]["total_trades"] > 0
    execution = _execution_of(fleet_db, backtest_id)
    assert execution["attempts"] == 1
    # Run by a pool process of the worker, not by the compute service.
    assert _parent_of(_worker_pid(execution)) == worker.pid
    health = httpx.get(f"{fleet.stack.services_url}/health").json()
    assert health["worker_pool"]["kind"] == "celery"

    # The worker's log lines of the run are JSON carrying the member's request id.
    run_lines = [
        line
        for line in map(_json_or_none, worker.log_path.read_text().splitlines())
        if line and line.get("backtest_id") == backtest_id
    ]
    assert run_lines, worker.log_tail()
    assert {line["request_id"] for line in run_lines} == {request_id}
    assert {line["execution_id"] for line in run_lines} == {execution["_id"]}

    # Metrics: the worker counts its runs, the services their requests by route.
    worker_metrics = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
    assert _metric(worker_metrics, "botclub_runs_started_total") == 1
    assert _metric(worker_metrics, 'botclub_runs_ended_total{status="completed"}') == 1
    assert _metric(worker_metrics, "botclub_queue_wait_seconds_count") == 1
    compute_metrics = httpx.get(f"{fleet.stack.services_url}/metrics").text
    assert _metric(compute_metrics, 'botclub_queue_depth{priority="5"}') == 0
    assert "botclub_http_request_duration_seconds_count" in compute_metrics
    api_metrics = httpx.get(f"{fleet.stack.api_url}/metrics").text
    route = 'route="/api/strategy/{strategy_id}/backtest",status="202"'
    assert f'botclub_http_request_duration_seconds_count{{method="POST",{route}}}' in api_metrics


def _json_or_none(line: str) -> dict[str, Any] | None:
    try:
        parsed = json.loads(line)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _metric(exposition: str, series: str) -> float:
    """The value of one series in Prometheus's text format."""
    for line in exposition.splitlines():
        name, _, value = line.rpartition(" ")
        if name == series:
            return float(value)
    raise AssertionError(f"{series} not exposed:\n{exposition}")


def test_the_broker_hands_out_urgent_tasks_first_and_sweep_helpers_last(
    broker: FleetBroker,
) -> None:
    settings = Settings(BROKER_URL=broker.url, FLEET_QUEUE=f"priorities-{uuid.uuid4().hex[:8]}")
    app = fleet_app(settings)
    app.send_task(HELP_TASK, args=["helper"], priority=helper_priority(broker.url))
    for priority in (9, 0, 5):
        app.send_task(RUN_TASK, args=[priority], priority=task_priority(broker.url, priority))

    handed_out: list[Any] = []
    try:
        with app.connection_for_read() as connection:
            queue = connection.SimpleQueue(app.conf.task_queues[0])
            with contextlib.suppress(queue.Empty):
                while len(handed_out) < 5:
                    message = queue.get(timeout=2)
                    message.ack()
                    handed_out.append(message.payload[0][0])
    finally:
        remove_queue(broker.url, settings.fleet_queue)
    assert handed_out == [0, 5, 9, "helper"]


def test_an_urgent_request_starts_before_queued_normal_ones(
    fleet: Fleet, member: httpx.Client, fleet_db: Database[Document]
) -> None:
    fleet.start_worker(concurrency=1)
    blocker = _submit_long_run(member)
    _wait_execution(fleet_db, blocker, lambda e: e["status"] == "running", 60)
    queued = submit_backtest(member, backtest_params())
    template = _wait_execution(fleet_db, queued, lambda e: e["status"] == "queued", 10)["request"]

    with httpx.Client(
        base_url=fleet.stack.services_url, auth=ServiceSignature(fleet.stack.secret), timeout=30
    ) as compute:
        submitted: dict[str, int] = {}
        for priority in (5, 5, 5, 0):
            request = template | {"backtest_id": uuid.uuid4().hex, "priority": priority}
            response = compute.post(COMPUTE_RUN_PATH, json=request)
            assert response.status_code == 202, response.text
            submitted[request["backtest_id"]] = priority
        member.delete(f"/api/backtest/{blocker}")

        runs = {
            backtest_id: _wait_execution(fleet_db, backtest_id, lambda e: e["status"] in FINAL, 90)
            for backtest_id in submitted
        }
    urgent = next(runs[b]["start_time"] for b, p in submitted.items() if p == 0)
    normal = [runs[b]["start_time"] for b, p in submitted.items() if p == 5]
    assert all(urgent < start for start in normal), (urgent, normal)


def test_members_take_turns_and_none_holds_more_than_its_share_while_others_wait(
    fleet: Fleet, new_member: Callable[[], httpx.Client], fleet_db: Database[Document]
) -> None:
    # Two slots; FAIR_SHARE 0.5: one each while both wait. Each run a sweep run whole:
    # seconds of work however warm the workers are, so the first member's runs are
    # still running when the second member's arrive.
    fleet.start_worker(concurrency=2, settings={"SWEEP_PART_SIZE": "1000"})
    first, second = new_member(), new_member()
    first_runs = [_optimize(first, long_sweep_params()) for _ in range(4)]
    for backtest_id in first_runs[:2]:  # alone, the first member may use both slots
        _wait_execution(fleet_db, backtest_id, lambda e: e["status"] == "running", 60)
    second_runs = [_optimize(second, long_sweep_params()) for _ in range(2)]
    for backtest_id in second_runs:
        _wait_execution(fleet_db, backtest_id, lambda e: e["status"] == "queued", 10)

    ended = {
        backtest_id: _wait_execution(fleet_db, backtest_id, lambda e: e["status"] in FINAL, 180)
        for backtest_id in first_runs + second_runs
    }

    assert all(execution["status"] == "completed" for execution in ended.values())
    spans = {b: (_moment(e["start_time"]), _moment(e["end_time"])) for b, e in ended.items()}
    # The second member's first run takes the first slot that frees: of the first
    # member's later runs, at most one starts before it (when both slots free at once,
    # the first two runs having started together, each member takes one).
    first_later_starts = sorted(spans[b][0] for b in first_runs[2:])
    assert spans[second_runs[0]][0] < first_later_starts[1], spans
    # No run starts for a member already holding its one slot while the other waits.
    for own, others in ((first_runs, second_runs), (second_runs, first_runs)):
        for backtest_id in set(own) - set(first_runs[:2]):
            starts = spans[backtest_id][0]
            own_running = [b for b in own if b != backtest_id and _during(spans[b], starts)]
            other_waiting = [b for b in others if spans[b][0] > starts]
            assert not (own_running and other_waiting), (backtest_id, spans)


def _moment(value: datetime | str) -> datetime:
    """A stored time (a string where the embedded server kept a `$set` one as text)."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=None)


def _during(span: tuple[datetime, datetime], moment: datetime) -> bool:
    return span[0] <= moment < span[1]


def test_a_sweep_fans_out_over_the_workers_and_merges_to_the_single_process_result(
    fleet: Fleet,
    member: httpx.Client,
    fleet_db: Database[Document],
    api: httpx.Client,
    long_symbol: str,
) -> None:
    fleet.start_worker(concurrency=1)
    fleet.start_worker(concurrency=1)
    sweep = {"grid": {"fast": list(range(100, 130)), "slow": [800, 900]}}  # 6 parts of 10
    params = long_run_params() | {"sweep": sweep}

    fanned = _optimize(member, params)
    whole = _optimize(api, params)  # the session's stack runs sweeps in one process
    seen: list[dict[str, Any]] = []
    fleet_run = wait_for_backtest(member, fanned, timeout_s=180, seen=seen)
    single_run = wait_for_backtest(api, whole, timeout_s=180)

    assert fleet_run["status"] == single_run["status"] == "completed", fleet_run["error"]
    assert fleet_run["optimization"] == single_run["optimization"]
    statistics = ("total_return", "sharpe_ratio", "max_drawdown", "total_trades")
    assert [fleet_run["result"][s] for s in statistics] == [
        single_run["result"][s] for s in statistics
    ]
    assert [state["progress"] for state in seen] == sorted(state["progress"] for state in seen)
    execution = _execution_of(fleet_db, fanned)
    assert len(set(execution["part_workers"])) == 2, execution["part_workers"]
    assert fleet_db["sweep_parts"].count_documents({"execution_id": execution["_id"]}) == 0


def test_one_cancel_stops_every_part_of_a_fanned_out_sweep(
    fleet: Fleet, member: httpx.Client, fleet_db: Database[Document]
) -> None:
    fleet.start_worker(concurrency=1)
    fleet.start_worker(concurrency=1)
    sweep = {"grid": {"fast": list(range(100, 200)), "slow": [800, 900]}}
    backtest_id = _optimize(member, long_run_params() | {"sweep": sweep})
    execution = _wait_execution(fleet_db, backtest_id, lambda e: e["status"] == "running", 60)
    wait_for(
        lambda: {
            "running": fleet_db["sweep_parts"].count_documents(
                {"execution_id": execution["_id"], "state": "running"}
            )
        },
        lambda parts: parts["running"] == 2,  # a part on each worker
        60,
    )

    assert member.delete(f"/api/backtest/{backtest_id}").status_code == 200
    cancelled_at = time.monotonic()
    after = submit_backtest(member, backtest_params())
    started = _wait_execution(fleet_db, after, lambda e: e["start_time"] is not None, 30)
    assert time.monotonic() - cancelled_at < 3.0
    assert started["status"] in ("running", "completed")
    assert wait_for_backtest(member, backtest_id)["status"] == "cancelled"


def test_a_walk_forward_fans_its_windows_out_and_equals_the_single_process_result(
    fleet: Fleet,
    member: httpx.Client,
    fleet_db: Database[Document],
    api: httpx.Client,
    long_symbol: str,
) -> None:
    fleet.start_worker(concurrency=1)
    fleet.start_worker(concurrency=1)
    sweep = {"grid": {"fast": list(range(100, 130)), "slow": [800]}}  # seconds a window
    params = long_run_params() | {
        "sweep": sweep,
        "validation": {"train": 600_000, "test": 200_000},
    }

    fanned = _optimize(member, params)
    whole = _optimize(api, params)  # the session's stack trains windows in turn
    fleet_run = wait_for_backtest(member, fanned, timeout_s=180)
    single_run = wait_for_backtest(api, whole, timeout_s=180)

    assert fleet_run["status"] == single_run["status"] == "completed", fleet_run["error"]
    assert len(fleet_run["walk_forward"]["windows"]) > 2
    assert fleet_run["walk_forward"] == single_run["walk_forward"]
    statistics = ("total_return", "sharpe_ratio", "max_drawdown", "total_trades", "bars")
    assert [fleet_run["result"][s] for s in statistics] == [
        single_run["result"][s] for s in statistics
    ]
    execution = _execution_of(fleet_db, fanned)
    assert len(set(execution["part_workers"])) == 2, execution["part_workers"]
    assert fleet_db["sweep_parts"].count_documents({"execution_id": execution["_id"]}) == 0


def _optimize(api: httpx.Client, params: dict[str, Any]) -> str:
    return submit_backtest(api, params, action="optimize", symbol="SYNTH1M", timeframe="1m")


def test_cancel_reaches_a_queued_task_and_a_running_one(
    fleet: Fleet, member: httpx.Client, fleet_db: Database[Document]
) -> None:
    fleet.start_worker(concurrency=1)
    running = _submit_long_run(member)
    _wait_execution(fleet_db, running, lambda e: e["status"] == "running", 60)
    queued = submit_backtest(member, backtest_params())
    after = submit_backtest(member, backtest_params())
    _wait_execution(fleet_db, after, lambda e: e["status"] == "queued", 10)

    assert member.delete(f"/api/backtest/{queued}").status_code == 200
    cancelled_at = time.monotonic()
    assert member.delete(f"/api/backtest/{running}").status_code == 200
    started = _wait_execution(fleet_db, after, lambda e: e["start_time"] is not None, 30)
    freed_in_s = time.monotonic() - cancelled_at

    assert freed_in_s < 2.0, f"the worker took {freed_in_s:.2f} s to stop the cancelled run"
    assert started["status"] in ("running", "completed")
    never_started = _execution_of(fleet_db, queued)
    assert never_started["status"] == "cancelled"
    assert never_started["start_time"] is None
    assert never_started["attempts"] == 0
    assert wait_for_backtest(member, after)["status"] == "completed"


def test_a_worker_killed_mid_run_is_replaced_by_another_and_the_run_finishes_once(
    fleet: Fleet, member: httpx.Client, fleet_db: Database[Document]
) -> None:
    first = fleet.start_worker(concurrency=1)
    backtest_id = _submit_long_run(member)
    _wait_execution(fleet_db, backtest_id, lambda e: e["status"] == "running", 60)
    fleet.start_worker(concurrency=1)

    first.kill()  # SIGKILL to the worker and its pool processes
    killed_at = time.monotonic()
    retaken = _wait_execution(fleet_db, backtest_id, lambda e: e["attempts"] == 2, 60)
    redelivered_in_s = time.monotonic() - killed_at

    backtest = wait_for_backtest(member, backtest_id, timeout_s=120)
    assert backtest["status"] == "completed", backtest["error"]
    execution = _wait_execution(fleet_db, backtest_id, lambda e: e["delivered_at"] is not None, 30)
    assert execution["attempts"] == 2
    assert execution["worker"] == retaken["worker"]
    # Heartbeat timeout (3 s here) and one heartbeat at most.
    assert redelivered_in_s < 10, f"taken over {redelivered_in_s:.1f} s after the kill"


def test_a_task_that_kills_its_worker_every_time_fails_after_max_attempts(
    fleet: Fleet, member: httpx.Client, fleet_db: Database[Document]
) -> None:
    fleet.start_worker(concurrency=1)
    backtest_id = _submit_long_run(member)

    killed: set[int] = set()
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        execution = fleet_db["executions"].find_one({"backtest_id": backtest_id}) or {}
        if execution.get("status") in FINAL:
            break
        if execution.get("status") == "running":
            pid = _worker_pid(execution)
            if pid not in killed:
                killed.add(pid)
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)

    backtest = wait_for_backtest(member, backtest_id, timeout_s=30)
    assert backtest["status"] == "failed"
    assert "gave up after 2 attempts" in backtest["error"]
    assert len(killed) == 2
    time.sleep(2)
    assert _execution_of(fleet_db, backtest_id)["status"] == "failed"


def test_a_broker_restart_loses_no_queued_or_running_backtest(
    fleet: Fleet, member: httpx.Client, fleet_db: Database[Document], broker: FleetBroker
) -> None:
    broker.skip_unless_restartable()
    fleet.start_worker(concurrency=1)
    running = _submit_long_run(member)
    _wait_execution(fleet_db, running, lambda e: e["status"] == "running", 60)
    queued = [submit_backtest(member, backtest_params()) for _ in range(3)]
    for backtest_id in queued:
        _wait_execution(fleet_db, backtest_id, lambda e: e["status"] == "queued", 10)

    broker.restart()

    for backtest_id in [running, *queued]:
        backtest = wait_for_backtest(member, backtest_id, timeout_s=120)
        assert backtest["status"] == "completed", backtest["error"]
    assert _execution_of(fleet_db, running)["attempts"] == 1  # it ran on, never twice
    assert all(_execution_of(fleet_db, b)["attempts"] == 1 for b in queued)


@pytest.mark.parametrize("broker", ["redis"], indirect=True)
def test_published_backtests_lost_with_a_redis_restart_are_published_again(
    fleet: Fleet, member: httpx.Client, fleet_db: Database[Document], broker: OwnRedis
) -> None:
    # No worker yet: the service publishes one task (one slot until a worker answers),
    # which waits in Redis until Redis restarts without it, as one keeping nothing on disk.
    backtest_id = submit_backtest(member, backtest_params())
    _wait_execution(fleet_db, backtest_id, lambda e: e["dispatched_at"] is not None, 10)
    broker.restart(losing_its_data=True)

    fleet.start_worker(concurrency=1)
    backtest = wait_for_backtest(member, backtest_id, timeout_s=60)
    assert backtest["status"] == "completed", backtest["error"]
    assert _execution_of(fleet_db, backtest_id)["attempts"] == 1


@pytest.mark.parametrize("broker", ["redis"], indirect=True)
# A run is taken for dead after the default 15 s without a heartbeat, not the 3 s of the
# other tests: on a loaded machine, a live run's heartbeat can be that late, and the
# duplicate would then rightly take the run over.
@pytest.mark.parametrize("fleet_timings", [FLEET_TIMINGS | {"HEARTBEAT_TIMEOUT_S": "15"}])
def test_a_run_held_past_redis_visibility_timeout_is_delivered_again_and_run_once(
    fleet: Fleet, member: httpx.Client, fleet_db: Database[Document], broker: OwnRedis
) -> None:
    # A sweep run whole (no parts to fan out): seconds of progress once the bars are
    # loaded.
    whole = {"SWEEP_PART_SIZE": "1000"}
    workers = [fleet.start_worker(settings=whole), fleet.start_worker(settings=whole)]
    backtest_id = _optimize(member, long_sweep_params())
    running = _wait_execution(fleet_db, backtest_id, lambda e: e["progress"] > 0, 60)
    time.sleep(1.1)
    # The running task comes again, to the idle worker, which finds its run beating and
    # leaves it alone.
    _hand_back_tasks_held_longer_than(broker.url, 1.0)

    backtest = wait_for_backtest(member, backtest_id, timeout_s=120)
    assert backtest["status"] == "completed", backtest["error"]
    execution = _execution_of(fleet_db, backtest_id)
    assert (execution["attempts"], execution["worker"]) == (1, running["worker"])
    received = [
        worker.name
        for worker in workers
        for line in map(_json_or_none, worker.log_path.read_text().splitlines())
        if line
        and line["message"].startswith(f"Task {RUN_TASK}[")
        and line["message"].endswith("received")
    ]
    assert sorted(received) == sorted(worker.name for worker in workers), received


def _hand_back_tasks_held_longer_than(broker_url: str, timeout_s: float) -> None:
    """What kombu's Redis transport has every worker do when it starts and every 100 s
    or so: each task held longer than the visibility timeout back into its queue,
    marked as delivered again."""
    settings = Settings(BROKER_URL=broker_url, BROKER_VISIBILITY_TIMEOUT_S=timeout_s)
    with fleet_app(settings).connection_for_write() as connection:
        connection.default_channel.qos.restore_visible()


def test_a_worker_cut_off_from_mongodb_is_replaced_and_its_late_writes_refused(
    fleet: Fleet, member: httpx.Client, fleet_db: Database[Document], mongo: Mongo
) -> None:
    with MongoCut(mongo.url) as cut:
        fleet.start_worker(concurrency=1, mongo_url=cut.url)
        backtest_id = _submit_long_run(member)
        first = _wait_execution(fleet_db, backtest_id, lambda e: e["status"] == "running", 60)

        cut.cut()  # while the run loads its bars: it fails, and the worker stays up
        # The stale run queued again and its task published again, which only the cut
        # worker consumes until the other starts: it must hand the task back, not lose it.
        _wait_execution(fleet_db, backtest_id, lambda e: e["status"] == "queued", 60)
        _wait_execution(fleet_db, backtest_id, lambda e: e["dispatched_at"] is not None, 10)
        time.sleep(8)  # MongoDB's server selection (5 s) fails in the cut worker
        fleet.start_worker(concurrency=1)
        retaken = _wait_execution(fleet_db, backtest_id, lambda e: e["attempts"] == 2, 60)
        assert retaken["worker"] != first["worker"]
        backtest = wait_for_backtest(member, backtest_id, timeout_s=120)
        assert backtest["status"] == "completed", backtest["error"]
        done = _execution_of(fleet_db, backtest_id)
        cut.restore()  # the first run's writes arrive now, fenced by its old run id
        time.sleep(3)

    after = _execution_of(fleet_db, backtest_id)
    assert (after["status"], after["run_id"], after["end_time"]) == (
        "completed",
        done["run_id"],
        done["end_time"],
    )
    stored_trades = fleet_db["execution_trades"].count_documents({"execution_id": after["_id"]})
    assert stored_trades > 0


class MongoCut:
    """A TCP relay to MongoDB that the test can cut (every connection dropped, new ones
    refused) and restore: a worker behind it loses MongoDB while the others keep it."""

    def __init__(self, mongo_url: str) -> None:
        target = mongo_url.removeprefix("mongodb://").split("/")[0]
        host, _, port = target.rpartition(":")
        self._target = (host, int(port))
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"mongodb://127.0.0.1:{self._listener.getsockname()[1]}"
        self._open = threading.Event()
        self._open.set()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def __enter__(self) -> MongoCut:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *_: object) -> None:
        self._listener.close()
        self.cut()

    def cut(self) -> None:
        self._open.clear()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._sockets.clear()

    def restore(self) -> None:
        self._open.set()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if not self._open.is_set():
                client.close()
                continue
            server = socket.create_connection(self._target)
            with self._lock:
                self._sockets += [client, server]
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=_relay, args=(source, sink), daemon=True).start()


def _relay(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
