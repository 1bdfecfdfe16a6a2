"""The README's walkthrough, command for command, on a stack started by `botclub run`
itself: the commands find the embedded database and the API it started on ports of its
choosing, with nothing set by hand. And the stack keeps serving when one of its
processes is killed."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
from helpers import (
    SMA_YAML,
    backtest_params,
    run_botclub,
    strategy_fields,
    submit_backtest,
    wait_for,
    wait_for_backtest,
)

from botclub.local_stack import free_port

pytestmark = pytest.mark.integration

START_TIMEOUT_S = 180.0
# The stack serves again this soon after one of its processes is killed.
RESTART_LIMIT_S = 10.0


class StackOutput:
    """What `botclub run` prints, read by one thread (a pipe's buffered lines are
    invisible to select) and kept."""

    def __init__(self, stream: IO[str]) -> None:
        self.seen: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self._lines.put(line.rstrip())
        self._lines.put(None)

    def wait_for(self, marker: str, timeout_s: float) -> str:
        """The first line from now on holding `marker`."""
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._lines.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            self.seen.append(line)
            if marker in line:
                return line
        raise AssertionError(f"no {marker!r} from botclub run:\n" + "\n".join(self.seen))


@dataclass
class BotclubRun:
    """`botclub run`, started from `home` with its data in `home/.data`."""

    home: Path
    env: dict[str, str]
    process: subprocess.Popen[str]
    output: StackOutput

    def stack(self) -> dict[str, Any]:
        found: dict[str, Any] = json.loads((self.home / ".data" / "stack.json").read_text())
        return found


@pytest.fixture(scope="module")
def botclub_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotclubRun]:
    """One stack for the module, started as a member starts it; at the end, Ctrl-C must
    stop it cleanly: exit 0, every process gone, its stack file removed."""
    home = tmp_path_factory.mktemp("walkthrough")
    env = {
        # The stack's own choices: no MongoDB address given, ports chosen here only to
        # stay clear of a stack the developer may be running.
        "MONGO_URL": "",
        "MONGO_DB": f"walkthrough_{uuid.uuid4().hex[:8]}",
        "XDG_CONFIG_HOME": str(home / "config"),
    }
    process = subprocess.Popen(
        [
            sys.executable, "-m", "botclub.cli", "run",
            "--port", str(free_port()), "--services-port", str(free_port()),
        ],
        cwd=home,
        env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    assert process.stdout is not None
    run = BotclubRun(home, env, process, StackOutput(process.stdout))
    try:
        run.output.wait_for("Serving.", START_TIMEOUT_S)
        pids = list(run.stack()["processes"].values())
        yield run
        pids = list(run.stack()["processes"].values())
    finally:
        process.send_signal(signal.SIGINT)
        stopped = process.wait(60)
    assert stopped == 0
    assert not (home / ".data" / "stack.json").exists()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_the_readme_walkthrough_on_a_stack_botclub_run_started(botclub_run: BotclubRun) -> None:
    home, env = botclub_run.home, botclub_run.env
    (home / "sma.yaml").write_text(SMA_YAML.format(name="SMA 10/30"))

    created = run_botclub(home, env, "create-user", "alice")
    token = created.stdout.strip()
    login = run_botclub(home, env, "login", f"--token={token}")
    strategy = run_botclub(home, env, "strategy", "create", "sma.yaml")
    backtest = run_botclub(home, env, "backtest", "SMA 10/30", "--follow", "--json")
    backtest_id = json.loads(backtest.stdout)["id"]
    trades = run_botclub(home, env, "trades", backtest_id, "--csv", "trades.csv")

    assert created.returncode == 0, created.stderr
    assert token.startswith("bcb_")
    assert login.returncode == 0, login.stderr
    assert "as alice" in login.stdout
    assert strategy.returncode == 0, strategy.stderr
    assert backtest.returncode == 0, backtest.stderr
    assert json.loads(backtest.stdout)["status"] == "completed"
    assert trades.returncode == 0, trades.stderr
    written = (home / "trades.csv").read_text().splitlines()
    described = [line for line in written if line.startswith("# ")]
    assert described[0] == "# Symbol: GOOG 1d"  # what produced the run, then its trades
    rows = written[len(described) :]
    assert len(rows) == 1 + json.loads(backtest.stdout)["result"]["total_trades"]


@pytest.fixture(scope="module")
def member_api(botclub_run: BotclubRun) -> Iterator[httpx.Client]:
    """A member of the module's stack, signed in to its API."""
    created = run_botclub(botclub_run.home, botclub_run.env, "create-user", "bea")
    assert created.returncode == 0, created.stderr
    with httpx.Client(
        base_url=botclub_run.stack()["api_url"],
        headers={"Authorization": f"Bearer {created.stdout.strip()}"},
        timeout=30,
    ) as api:
        yield api


def serving_again(
    run: BotclubRun, api: httpx.Client, process: str, dependency: str, killed: int
) -> float:
    """Seconds from now until `process` runs again (a new pid in the stack file) and
    the API's readiness reached `dependency` after this moment."""
    killed_at, killed_at_utc = time.monotonic(), datetime.now(UTC)
    wait_for(
        lambda: {"restarted": run.stack()["processes"][process] != killed,
                 "reached": reached_since(api, dependency, killed_at_utc)},
        lambda serving: serving["restarted"] and serving["reached"],
        timeout_s=30,
    )  # fmt: skip
    return time.monotonic() - killed_at


def test_a_compute_service_killed_mid_backtest_is_restarted_and_the_backtest_completes(
    botclub_run: BotclubRun, member_api: httpx.Client
) -> None:
    api = member_api
    strategy = api.post("/api/strategy", json=strategy_fields(symbol="EURUSD", timeframe="1h"))
    assert strategy.status_code == 201, strategy.text
    sweep = {"grid": {"fast": list(range(2, 62)), "slow": list(range(70, 270, 10))}}
    started = api.post(
        f"/api/strategy/{strategy.json()['id']}/optimize",
        json=backtest_params(
            start_date="2017-01-01T00:00:00Z", end_date="2018-12-31T00:00:00Z", sweep=sweep
        ),
    )
    assert started.status_code == 202, started.text
    backtest_id = started.json()["id"]
    wait_for_backtest(api, backtest_id, lambda b: b["status"] == "running", timeout_s=60)
    killed = botclub_run.stack()["processes"]["backend_services"]

    os.kill(killed, signal.SIGKILL)
    served_again_s = serving_again(botclub_run, api, "backend_services", "backend_services", killed)
    finished = wait_for_backtest(api, backtest_id, timeout_s=180)

    assert served_again_s < RESTART_LIMIT_S
    assert finished["status"] == "completed", finished["error"]
    assert finished["optimization"]["combinations"] == 60 * 20
    said = botclub_run.output.wait_for("backend_services is back", 5)
    restarted = botclub_run.stack()["processes"]["backend_services"]
    assert said == f"backend_services is back (pid {restarted})"
    assert (
        f"backend_services (pid {killed}) was killed by SIGKILL; starting it again in 0.5 s"
        in botclub_run.output.seen
    )


def test_the_embedded_mongodb_killed_is_restarted_and_the_stack_serves_again(
    botclub_run: BotclubRun, member_api: httpx.Client
) -> None:
    killed = botclub_run.stack()["processes"]["mongo"]

    os.kill(killed, signal.SIGKILL)
    served_again_s = serving_again(botclub_run, member_api, "mongo", "mongo", killed)
    backtest_id = submit_backtest(member_api, backtest_params())
    finished = wait_for_backtest(member_api, backtest_id, timeout_s=120)

    assert served_again_s < RESTART_LIMIT_S
    assert finished["status"] == "completed", finished["error"]
    said = botclub_run.output.wait_for("mongo is back", 5)
    assert said == f"mongo is back (pid {botclub_run.stack()['processes']['mongo']})"


def reached_since(api: httpx.Client, dependency: str, moment: datetime) -> bool:
    """The API's readiness says it reached `dependency` after `moment`."""
    try:
        checked = api.get("/api/health").json()["dependencies"][dependency]
    except (ValueError, KeyError):  # while one is down, the answer may say less
        return False
    return bool(checked["state"] == "up" and datetime.fromisoformat(checked["checked_at"]) > moment)
