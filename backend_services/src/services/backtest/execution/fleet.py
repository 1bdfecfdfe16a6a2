"""Fleet mode (EXECUTOR=celery): each execution is published as a Celery task to the
broker (RabbitMQ or Redis, BROKER_URL) and run by `botclub worker` processes on any
machine that reaches the broker, MongoDB and the API (API_SERVICE_URL, SERVICE_SECRET:
a worker pushes its runs' progress and final states there). The execution record stays
the single truth: a task only names an execution, which its worker claims, runs and
finishes there, fenced by its run id.

The settings, and why (Celery's, RabbitMQ's and kombu's documentation on reliability;
`fleet_broker` says how each broker provides them):
- Late acknowledgement, and rejection when the worker is lost: a task is acknowledged
  once its run has ended; a worker killed mid-run (or cut from the broker) leaves its
  task unacknowledged, and the broker delivers it again.
- Prefetch multiplier 1: a worker process holds no task beyond the one it runs, so a
  queued task goes to whichever worker frees first, and priorities decide among all
  queued tasks rather than within each worker's private prefetch.
- Priorities: a sweep's helpers after every waiting execution.
- No result backend: the execution record is the result.
- RabbitMQ closes a channel whose delivery stays unacknowledged past its
  `consumer_timeout` (30 minutes by default): set it above the longest run in
  rabbitmq.conf (docker-compose.yml sets 24 hours). Redis's counterpart is
  BROKER_VISIBILITY_TIMEOUT_S.
"""

from __future__ import annotations

import logging
import os
import time
from datetime import timedelta
from typing import Any

from celery import Celery
from celery.exceptions import Reject
from celery.signals import worker_process_init
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.multiprocess import MultiProcessCollector
from pymongo.errors import ConnectionFailure

from backend_services.config import Settings
from backend_services.services.backtest.execution.fanned_sweep import FanOut
from backend_services.services.backtest.execution.fleet_broker import (
    fleet_broker_settings,
    helper_priority,
)
from backend_services.services.backtest.execution.job import (
    RunOutcome,
    execution_status,
    fan_sweeps_out,
    help_sweep,
    init_worker,
    run_claimed,
)
from backend_services.services.backtest.execution.sweep_parts import AskForHelpers
from shared.contracts.common import utc_now
from shared.contracts.lifecycle import BacktestStatus
from shared.logs import configure_logging

__all__ = ["RUN_TASK", "fleet_app"]

logger = logging.getLogger(__name__)

RUN_TASK = "botclub.run_execution"
HELP_TASK = "botclub.help_sweep"


def fleet_app(settings: Settings) -> Celery:
    """The Celery application both ends use: the service publishes with it, a worker
    consumes with it."""
    app = Celery("botclub", broker=settings.broker_url, set_as_current=False)
    app.conf.update(
        task_default_queue=settings.fleet_queue,
        task_default_exchange=settings.fleet_queue,
        task_default_routing_key=settings.fleet_queue,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
        **fleet_broker_settings(settings),
    )

    @app.task(name=RUN_TASK, bind=True)  # type: ignore[untyped-decorator]
    def run(task: Any, execution_id: str) -> None:
        redelivered = bool((task.request.delivery_info or {}).get("redelivered"))
        try:
            run_delivered(execution_id, redelivered, settings)
        except ConnectionFailure as error:
            # This worker cannot reach MongoDB: the task goes back to the queue for
            # another worker (a run it had claimed is re-run once its heartbeat is
            # stale). Acknowledged, the task would be lost with its execution queued.
            logger.warning("MongoDB unreachable, handing %s back: %r", execution_id, error)
            time.sleep(settings.heartbeat_interval_s)
            raise Reject(str(error), requeue=True) from error

    @app.task(name=HELP_TASK)  # type: ignore[untyped-decorator]
    def lend_a_hand(execution_id: str, run_id: str) -> None:
        help_sweep(execution_id, run_id)

    return app


def _asking(app: Celery, queue: str) -> AskForHelpers:
    priority = helper_priority(app.conf.broker_url)

    def ask_for_helpers(execution_id: str, run_id: str, count: int) -> None:
        for _ in range(count):
            app.send_task(HELP_TASK, args=[execution_id, run_id], queue=queue, priority=priority)

    return ask_for_helpers


def run_delivered(execution_id: str, redelivered: bool, settings: Settings) -> None:
    """Run the execution a task names. A task delivered again was last held by a worker
    that died or lost the broker: the run it started is taken over as soon as its
    heartbeat goes stale (no wait for the service's sweep), or left alone if it keeps
    beating, so that a live run is never run twice; a run taken over more than
    MAX_ATTEMPTS times is failed with the reason."""
    if not redelivered:
        run_claimed(execution_id)
        return
    patience = settings.heartbeat_timeout_s + 2 * settings.heartbeat_interval_s
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        stale_before = utc_now() - timedelta(seconds=settings.heartbeat_timeout_s)
        outcome = run_claimed(execution_id, stale_before, settings.max_attempts)
        if outcome is not RunOutcome.NOT_CLAIMED:
            return
        if execution_status(execution_id) not in (BacktestStatus.RUNNING, BacktestStatus.QUEUED):
            return
        time.sleep(settings.heartbeat_interval_s)


def start_worker(
    settings: Settings, concurrency: int, name: str | None, metrics: tuple[str, int] | None
) -> None:
    """Run a Celery worker of `concurrency` processes until it is stopped, serving the
    metrics of its runs at http://HOST:PORT/metrics when `metrics` names them. Call
    `share_metrics_with_children()` before importing this module."""
    configure_logging()
    if metrics is not None:
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        host, port = metrics
        start_http_server(port, addr=host, registry=registry)
    app = fleet_app(settings)

    @worker_process_init.connect(weak=False)  # type: ignore[untyped-decorator]
    def _ready_process(**_: Any) -> None:
        # Each pool process has its own MongoDB client (never one forked across).
        init_worker(
            settings.mongo_url,
            settings.mongo_db,
            settings.heartbeat_interval_s,
            settings.market_data_cache_mb << 20,
            os.getppid(),
            settings.api_service_url,
            settings.service_secret,
            settings.market_data_files_dir,
        )
        fan_sweeps_out(
            FanOut(
                ask_for_helpers=_asking(app, settings.fleet_queue),
                part_size=settings.sweep_part_size,
                stale_after_s=settings.heartbeat_timeout_s,
                beat_interval_s=settings.heartbeat_interval_s,
            )
        )

    arguments = [
        "worker",
        f"--concurrency={concurrency}",
        "--pool=prefork",
        "--loglevel=INFO",
        "--without-gossip",
        "--without-mingle",
    ]
    if name:
        arguments.append(f"--hostname={name}")
    app.worker_main(arguments)
