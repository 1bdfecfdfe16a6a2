"""The whole stack on one machine as child processes: MongoDB (the embedded nx-27017
wire server unless MONGO_URL reaches a real one), backend_services and backend.

Used by `botclub run` and by the integration tests, so both start the system the same
way. Every child is started by pid and stopped by that pid.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal

import httpx
from pymongo import MongoClient

__all__ = [
    "ChildProcess",
    "ServiceName",
    "StackError",
    "free_port",
    "mongo_reachable",
    "port_in_use",
    "spawn",
    "start_embedded_mongo",
    "start_service",
    "wait_until",
]

ServiceName = Literal["backend", "backend_services"]
_APP_FACTORIES: dict[ServiceName, str] = {
    "backend": "backend.main:create_app",
    "backend_services": "backend_services.main:create_app",
}
_HEALTH_PATHS: dict[ServiceName, str] = {"backend": "/api/health", "backend_services": "/health"}


class StackError(RuntimeError):
    """A part of the stack did not come up; the message carries the tail of its log."""


@dataclass
class ChildProcess:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    _log: IO[bytes] = field(repr=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    def running(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def stop(self, timeout_s: float = 15.0) -> None:
        """SIGTERM (a graceful shutdown), then SIGKILL if it does not exit in time."""
        if self.running():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._log.close()

    def kill(self) -> None:
        """SIGKILL to the child and every process it started (its process group, as it
        runs in a session of its own): what a crash of the machine's service looks like."""
        if self.running():
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self._log.close()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def mongo_reachable(url: str, timeout_s: float = 2.0) -> bool:
    client: MongoClient[dict[str, object]] = MongoClient(
        url, serverSelectionTimeoutMS=int(timeout_s * 1000)
    )
    try:
        client.admin.command("ping")
        return True
    except Exception:
        return False
    finally:
        client.close()


def spawn(name: str, command: list[str], log_dir: Path, env: Mapping[str, str]) -> ChildProcess:
    log_dir = log_dir.resolve()
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    log = log_path.open("ab")
    # A session of its own: a Ctrl-C in the terminal reaches only the parent, which then
    # stops the children in order. The log folder as working directory keeps the
    # checkout's `backend/` folder from shadowing the installed `backend` package.
    process = subprocess.Popen(
        command,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, **env},
        cwd=log_dir,
        start_new_session=True,
    )
    return ChildProcess(name=name, process=process, log_path=log_path, _log=log)


def start_embedded_mongo(data_dir: Path, port: int, log_dir: Path) -> ChildProcess:
    """nx-27017 on 127.0.0.1:`port`, one SQLite file per database in `data_dir`, so
    databases are as separate as on a real MongoDB."""
    log_dir = log_dir.resolve()
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "nx_27017.nx_27017",
        "--data-dir",
        str(data_dir),
        "--port",
        str(port),
        "--log-file",
        str(log_dir / "nx-27017.server.log"),
        "--pid-file",
        str(log_dir / f"nx-27017.{port}.pid"),
    ]
    child = spawn("mongo", command, log_dir, {})
    wait_until(lambda: mongo_reachable(f"mongodb://127.0.0.1:{port}", 0.5), child, 30.0)
    return child


def start_service(
    service: ServiceName, port: int, env: Mapping[str, str], log_dir: Path
) -> ChildProcess:
    """One service (uvicorn, guarded: `shared.web.serve`) on 127.0.0.1:`port`, waited
    for until healthy."""
    command = [
        sys.executable,
        "-m",
        "shared.web.serve",
        _APP_FACTORIES[service],
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    child = spawn(service, command, log_dir, env)
    health_url = f"http://127.0.0.1:{port}{_HEALTH_PATHS[service]}"
    wait_until(lambda: _answers(health_url), child, 60.0)
    return child


def wait_until(ready: Callable[[], bool], child: ChildProcess, timeout_s: float) -> None:
    """Poll `ready()` until true; fail early, with the child's log, if the child exits.
    A child that never gets ready, or whose wait is interrupted (Ctrl-C), is killed:
    nothing else holds it yet."""
    try:
        _wait_until(ready, child, timeout_s)
    except BaseException:
        child.kill()
        raise


def _wait_until(ready: Callable[[], bool], child: ChildProcess, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not child.running():
            raise StackError(
                f"{child.name} exited with {child.process.returncode}:\n{child.log_tail()}"
            )
        if ready():
            return
        time.sleep(0.2)
    raise StackError(f"{child.name} not ready after {timeout_s:.0f} s:\n{child.log_tail()}")


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False
