"""The metrics of runs and deliveries, counted where they happen (a worker process, the
service's event loop) and added up across the process tree at /metrics."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

__all__ = ["DELIVERY_RETRIES", "QUEUE_WAIT_SECONDS", "RUNS_ENDED", "RUNS_STARTED", "RUN_SECONDS"]

_SECONDS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0)

RUNS_STARTED = Counter(
    "botclub_runs_started", "Runs a worker claimed, attempts after a lost worker included."
)
RUNS_ENDED = Counter(
    "botclub_runs_ended",
    "Runs that reached a final state, by that state (completed, failed, cancelled).",
    ["status"],
)
RUN_SECONDS = Histogram(
    "botclub_run_duration_seconds", "From a run's claim to its final state.", buckets=_SECONDS
)
QUEUE_WAIT_SECONDS = Histogram(
    "botclub_queue_wait_seconds",
    "From an execution's submission to the claim of its first run.",
    buckets=_SECONDS,
)
DELIVERY_RETRIES = Counter(
    "botclub_delivery_retries", "Deliveries of a final state to the API tried again."
)
