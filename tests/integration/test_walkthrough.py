"""The README's walkthrough, command for command, on a stack started by `botclub run`
itself: the commands find the embedded database and the API it started on ports of its
choosing, with nothing set by hand."""

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
from pathlib import Path
from typing import IO

import pytest
from helpers import SMA_YAML, run_botclub

from botclub.local_stack import free_port

pytestmark = pytest.mark.integration

START_TIMEOUT_S = 180.0


def wait_for_line(process: subprocess.Popen[str], marker: str, timeout_s: float) -> list[str]:
    """The lines `process` printed up to the one holding `marker` (read by a thread: a
    pipe's buffered lines are invisible to select)."""
    assert process.stdout is not None
    lines: queue.Queue[str | None] = queue.Queue()

    def read(stream: IO[str]) -> None:
        for line in stream:
            lines.put(line.rstrip())
        lines.put(None)

    threading.Thread(target=read, args=(process.stdout,), daemon=True).start()
    seen: list[str] = []
    deadline = time.monotonic() + timeout_s
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=left)
        except queue.Empty:
            break
        if line is None:
            break
        seen.append(line)
        if marker in line:
            return seen
    raise AssertionError(f"no {marker!r} from botclub run:\n" + "\n".join(seen))


def test_the_readme_walkthrough_on_a_stack_botclub_run_started(tmp_path: Path) -> None:
    env = {
        # The stack's own choices: no MongoDB address given, ports chosen here only to
        # stay clear of a stack the developer may be running.
        "MONGO_URL": "",
        "MONGO_DB": f"walkthrough_{uuid.uuid4().hex[:8]}",
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
    }
    stack = subprocess.Popen(
        [
            sys.executable, "-m", "botclub.cli", "run", "--data-dir", str(tmp_path / "data"),
            "--port", str(free_port()), "--services-port", str(free_port()),
        ],
        cwd=tmp_path,
        env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    try:
        wait_for_line(stack, "Serving.", START_TIMEOUT_S)
        (tmp_path / "sma.yaml").write_text(SMA_YAML.format(name="SMA 10/30"))

        created = run_botclub(tmp_path, env, "create-user", "alice")
        token = created.stdout.strip()
        login = run_botclub(tmp_path, env, "login", f"--token={token}")
        strategy = run_botclub(tmp_path, env, "strategy", "create", "sma.yaml")
        backtest = run_botclub(tmp_path, env, "backtest", "SMA 10/30", "--follow", "--json")
        backtest_id = json.loads(backtest.stdout)["id"]
        trades = run_botclub(tmp_path, env, "trades", backtest_id, "--csv", "trades.csv")
    finally:
        stack.send_signal(signal.SIGINT)
        stopped = stack.wait(60)

    assert created.returncode == 0, created.stderr
    assert token.startswith("bcb_")
    assert login.returncode == 0, login.stderr
    assert "as alice" in login.stdout
    assert strategy.returncode == 0, strategy.stderr
    assert backtest.returncode == 0, backtest.stderr
    assert json.loads(backtest.stdout)["status"] == "completed"
    assert trades.returncode == 0, trades.stderr
    written = (tmp_path / "trades.csv").read_text().splitlines()
    assert len(written) == 1 + json.loads(backtest.stdout)["result"]["total_trades"]
    assert stopped == 0
    assert not (tmp_path / "state" / "botclub" / "stack.json").exists()


def test_admin_commands_without_a_database_say_so_in_one_line(tmp_path: Path) -> None:
    closed = f"mongodb://127.0.0.1:{free_port()}"
    env = {"MONGO_URL": closed, "XDG_STATE_HOME": str(tmp_path / "state")}

    started = time.monotonic()
    run = run_botclub(tmp_path, env, "create-user", "alice")

    assert run.returncode == 6
    assert time.monotonic() - started < 15
    assert run.stderr.splitlines() == [
        f"error: no MongoDB answers at {closed} (MONGO_URL)",
        "hint: start the stack with `botclub run` in another terminal (these commands then "
        "find its database), or set MONGO_URL to a running MongoDB",
    ]
