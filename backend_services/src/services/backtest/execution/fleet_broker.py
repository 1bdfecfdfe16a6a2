"""What differs between the fleet's two brokers, RabbitMQ (`amqp://`) and Redis
(`redis://`, `rediss://`), each set up for the same guarantees: a published task is run,
a task whose worker died is run again, the most urgent task goes first.

- Priorities. RabbitMQ orders a queue declared with `x-max-priority` by message
  priority, the highest first. Kombu's Redis transport keeps one list per step of
  `priority_steps` (named queue, queue + `sep` + step) and pops them in that order, so
  the lowest number goes first, and it knows only 0 to 9: a request's priorities run
  onto 0 to 8 (8 and 9 share a list) above the sweep helpers' 9. The service publishes
  no more tasks than there are free slots, choosing which itself (`scheduling`),
  so the broker's order matters only among the few tasks published at once.
- Tasks held by a worker. Both acknowledge late, once the run has ended. RabbitMQ
  delivers an unacknowledged task again as soon as the connection of the worker holding
  it closes. Redis knows no consumers: kombu keeps a delivered task in a hash until it
  is acknowledged, and puts it back in the queue when the worker hands it back (a pool
  process lost, or MongoDB out of reach), when its connection closes in order, or else
  once it has been held longer than `visibility_timeout` (checked by a worker when it
  starts, then every 100 s or so). A worker killed outright is therefore not waited
  for: the service's stale-run sweep queues its run again once the heartbeat stops,
  and publishes it anew.
  A run still going past the visibility timeout is delivered again too, to a worker that
  finds its heartbeat fresh and leaves it alone (the claim is fenced by the heartbeat):
  harmless, but that worker slot is held for HEARTBEAT_TIMEOUT_S, so
  BROKER_VISIBILITY_TIMEOUT_S should be longer than the longest run.
- Publishing. RabbitMQ confirms each publish once its durable queue holds the
  persistent message. Redis has no confirms: a publish returns once Redis holds the
  task in memory, and it outlives a restart only as far as Redis's persistence goes
  (`appendonly yes`: nothing lost by a clean restart, up to a second by a crash with
  `appendfsync everysec`; everything without). So the service watches Redis's `run_id`,
  new at every start of the server, and on a change publishes again every execution it
  had published that has not started; a duplicate only finds its execution claimed.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from celery import Celery
from kombu import Exchange, Queue

from backend_services.config import Settings

__all__ = ["broker_run_id", "fleet_broker_settings", "helper_priority", "task_priority"]

# RabbitMQ: 0 (lowest) to x-max-priority; a request's 0 (most urgent) to 9 mirrored onto
# 10 to 1, above the sweep helpers' 0.
AMQP_MAX_PRIORITY = 10
AMQP_HELPER_PRIORITY = 0
# Redis: kombu's 0 (first) to 9 (last).
REDIS_PRIORITY_STEPS = list(range(10))
REDIS_HELPER_PRIORITY = REDIS_PRIORITY_STEPS[-1]


def is_redis(broker_url: str) -> bool:
    return urlsplit(broker_url).scheme in ("redis", "rediss")


def fleet_broker_settings(settings: Settings) -> dict[str, Any]:
    """Celery's settings of the fleet's queue and of the transport to BROKER_URL."""
    queue = settings.fleet_queue
    exchange = Exchange(queue, type="direct", durable=True)
    if is_redis(settings.broker_url):
        return {
            "task_queues": [Queue(queue, exchange, routing_key=queue)],
            "broker_transport_options": {
                "priority_steps": REDIS_PRIORITY_STEPS,
                "visibility_timeout": settings.broker_visibility_timeout_s,
            },
        }
    return {
        "task_queues": [
            Queue(
                queue,
                exchange,
                routing_key=queue,
                durable=True,
                queue_arguments={"x-max-priority": AMQP_MAX_PRIORITY},
            )
        ],
        "task_queue_max_priority": AMQP_MAX_PRIORITY,
        "broker_transport_options": {"confirm_publish": True},
    }


def task_priority(broker_url: str, priority: int) -> int:
    """The broker's priority of the task of a request's `priority` (0 most urgent, 9)."""
    if is_redis(broker_url):
        return min(priority, REDIS_HELPER_PRIORITY - 1)
    return AMQP_MAX_PRIORITY - priority


def helper_priority(broker_url: str) -> int:
    """The broker's priority of a sweep's helper: after every waiting execution."""
    return REDIS_HELPER_PRIORITY if is_redis(broker_url) else AMQP_HELPER_PRIORITY


def broker_run_id(app: Celery) -> str | None:
    """Redis's `run_id`, new at every start of the server (None for RabbitMQ, whose
    durable queue keeps what was published across its restarts)."""
    if not is_redis(app.conf.broker_url):
        return None
    with app.connection_for_read() as connection:
        run_id: str = connection.default_channel.client.info("server")["run_id"]
        return run_id
