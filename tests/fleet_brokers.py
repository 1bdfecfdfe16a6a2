"""The fleet tests' two brokers: the RabbitMQ on loopback, and a Redis of their own.

The machine's Redis (127.0.0.1:6379) is shared and keeps nothing on disk: the tests
start their own `redis-server` on a free port, configured as a deployment would be (an
append-only file in a folder of its own), so that they can restart it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Protocol

import pytest
import redis
from kombu import Connection

from botclub.local_stack import ChildProcess, free_port, spawn, wait_until

RABBITMQ_URL = os.environ.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//")
BROKER_DOWN_S = 1.0


class FleetBroker(Protocol):
    url: str

    def skip_unless_restartable(self) -> None: ...

    def restart(self) -> None:
        """Stop the broker, wait BROKER_DOWN_S, start it again."""

    def close(self) -> None: ...


def missing(message: str) -> None:
    """Without what a test needs: skipped, saying how to get it; under CI=true, failed."""
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def remove_queue(broker_url: str, queue: str) -> None:
    with Connection(broker_url, connect_timeout=2) as connection:
        channel = connection.default_channel
        channel.queue_delete(queue)
        channel.exchange_delete(queue)


class RabbitMQ:
    def __init__(self) -> None:
        self.url = RABBITMQ_URL
        try:
            with Connection(self.url, connect_timeout=2) as connection:
                connection.ensure_connection(max_retries=1)
        except Exception as error:
            missing(
                f"no RabbitMQ answers at {self.url} ({error!r}): start one "
                "(`sudo apt install rabbitmq-server`, or `docker run -p 5672:5672 rabbitmq:3`) "
                "or point RABBITMQ_URL at one"
            )
        self._rabbitmqctl = shutil.which("rabbitmqctl")

    def skip_unless_restartable(self) -> None:
        if self._rabbitmqctl is None or os.geteuid() != 0:
            pytest.skip("restarting the broker needs rabbitmqctl, as root, on this machine")

    def restart(self) -> None:
        assert self._rabbitmqctl is not None
        try:
            self._ctl("stop_app")
            time.sleep(BROKER_DOWN_S)
        finally:
            self._ctl("start_app")

    def close(self) -> None:
        """The machine's RabbitMQ stays up."""

    def _ctl(self, command: str) -> None:
        assert self._rabbitmqctl is not None
        subprocess.run([self._rabbitmqctl, command], check=True, capture_output=True, timeout=60)


class OwnRedis:
    def __init__(self, data_dir: Path, logs_dir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            missing("no redis-server on this machine: `sudo apt-get install redis-server`")
        assert binary is not None
        self._binary = binary
        self._data_dir = data_dir
        self._logs_dir = logs_dir
        self._port = free_port()
        self.url = f"redis://127.0.0.1:{self._port}/0"
        self._server = self._start()

    def skip_unless_restartable(self) -> None:
        """Always: the server is the tests' own."""

    def restart(self, losing_its_data: bool = False) -> None:
        """A clean restart (the append-only file written and read back), or, losing its
        data, one of a Redis that keeps nothing on disk."""
        self._server.stop()
        if losing_its_data:
            shutil.rmtree(self._data_dir)
            self._data_dir.mkdir()
        time.sleep(BROKER_DOWN_S)
        self._server = self._start()

    def close(self) -> None:
        self._server.stop()

    def _start(self) -> ChildProcess:
        command = [
            self._binary,
            "--bind",
            "127.0.0.1",
            "--port",
            str(self._port),
            "--dir",
            str(self._data_dir),
            "--appendonly",
            "yes",
            "--save",
            "",
        ]
        server = spawn("redis-broker", command, self._logs_dir, {})
        client = redis.Redis(port=self._port, socket_connect_timeout=1)
        wait_until(lambda: _answers(client), server, 30.0)
        return server


def _answers(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False
