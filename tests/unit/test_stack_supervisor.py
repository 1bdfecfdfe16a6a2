"""`botclub run` keeps its processes running: one that dies is started again after a
growing pause, said on the terminal and in its log; one that keeps dying stops the
stack. Real child processes, killed for real."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

from botclub.local_stack import ChildProcess, StackError, spawn, wait_until
from botclub.supervisor import RestartPolicy, StackSupervisor

QUICK = RestartPolicy(max_deaths=3, window_s=60.0, first_delay_s=0.01, max_delay_s=0.04)


def starter(log_dir: Path, code: str) -> ChildProcess:
    child = spawn("sleeper", [sys.executable, "-c", code], log_dir, {})
    wait_until(lambda: True, child, 5.0)
    return child


def test_the_pause_before_a_restart_doubles_up_to_its_bound_and_ends_in_giving_up() -> None:
    policy = RestartPolicy(max_deaths=5, window_s=60.0, first_delay_s=0.5, max_delay_s=1.5)
    deaths: list[float] = []
    delays = []
    for now in (0.0, 1.0, 2.0, 3.0, 4.0):
        deaths.append(now)
        delays.append(policy.delay_s(deaths, now))

    assert delays == [0.5, 1.0, 1.5, 1.5, None]
    # Deaths older than the window are forgiven.
    assert policy.delay_s([0.0, 1.0, 2.0, 3.0, 100.0], 100.0) == 0.5


def test_a_killed_process_is_started_again_and_the_terminal_and_its_log_say_so(
    tmp_path: Path,
) -> None:
    said: list[str] = []
    changes: list[dict[str, int]] = []
    supervisor = StackSupervisor(QUICK, said.append, lambda: changes.append(supervisor.pids()))
    first = supervisor.start(lambda: starter(tmp_path, "import time; time.sleep(60)"))
    try:
        os.kill(first.pid, signal.SIGKILL)
        first.process.wait()

        supervisor.check()

        [(name, pid)] = supervisor.pids().items()
        assert name == "sleeper"
        assert pid != first.pid
        assert os.waitpid(pid, os.WNOHANG) == (0, 0)  # the new one runs
        assert said == [
            f"sleeper (pid {first.pid}) was killed by SIGKILL; starting it again in 0.01 s",
            f"sleeper is back (pid {pid})",
        ]
        assert changes == [{"sleeper": pid}]
        log = (tmp_path / "sleeper.log").read_text()
        assert f"botclub run: sleeper (pid {first.pid}) was killed by SIGKILL" in log
        assert f"botclub run: sleeper is back (pid {pid})" in log
    finally:
        supervisor.stop()


def test_a_process_that_keeps_dying_stops_the_stack_with_the_end_of_its_log(
    tmp_path: Path,
) -> None:
    said: list[str] = []
    supervisor = StackSupervisor(QUICK, said.append)
    supervisor.start(
        lambda: starter(tmp_path, "import time; print('cannot open the port'); time.sleep(0.2)")
    )

    with pytest.raises(StackError) as stopped:
        supervisor.watch(poll_s=0.01)

    supervisor.stop()
    message = str(stopped.value)
    assert message.startswith("sleeper died 3 times within 60 s")
    assert "stopping the stack" in message
    assert "cannot open the port" in message
    assert len([line for line in said if "starting it again" in line]) == 2
