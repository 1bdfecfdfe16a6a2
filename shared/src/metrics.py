"""Prometheus metrics both services and the workers expose at /metrics: the histogram
every HTTP request feeds and the counter of every command sent to MongoDB. In a process
tree sharing a metrics folder (`shared.metrics_dir`), the exposition adds up every
process's counters."""

from __future__ import annotations

import os
from collections.abc import Iterable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from shared.metrics_dir import METRICS_DIR_VARIABLE

__all__ = ["CONTENT_TYPE", "HTTP_SECONDS", "METRICS_PATH", "MONGO_COMMANDS", "exposition"]

CONTENT_TYPE = CONTENT_TYPE_LATEST

HTTP_SECONDS = Histogram(
    "botclub_http_request_duration_seconds",
    "Time from a request's first byte to its response's last, by route and status.",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)

MONGO_COMMANDS = Counter(
    "botclub_mongo_commands",
    "Commands sent to MongoDB (each a round trip), by command name: find, insert, update, "
    "getMore, ...",
    ["command"],
)


class _Current(Collector):
    """Metrics read just before this exposition (a queue's depth, say)."""

    def __init__(self, metrics: Iterable[Metric]) -> None:
        self._metrics = list(metrics)

    def collect(self) -> Iterable[Metric]:
        return self._metrics


def exposition(current: Iterable[Metric] = ()) -> bytes:
    """The text format of every metric of this process tree, with `current` ones."""
    if os.environ.get(METRICS_DIR_VARIABLE):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry = CollectorRegistry()
        registry.register(_Current(REGISTRY.collect()))
    registry.register(_Current(current))
    return generate_latest(registry)


METRICS_PATH = "/metrics"
