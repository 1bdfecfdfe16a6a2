"""Prometheus metrics of the compute service and the worker processes it started (runs
started and ended, run and queue-wait durations, deliveries retried, HTTP latency per
route), with the depth of the queue per priority read from the execution records."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client.core import GaugeMetricFamily

from backend_services.deps import StateDep
from shared.metrics import CONTENT_TYPE, METRICS_PATH, exposition

router = APIRouter(tags=["health"])


@router.get(METRICS_PATH, summary="Prometheus metrics", include_in_schema=False)
async def metrics(state: StateDep) -> Response:
    depth = GaugeMetricFamily(
        "botclub_queue_depth", "Executions waiting for a worker, by priority.", labels=["priority"]
    )
    for priority, count in sorted((await state.backtests.queued_by_priority()).items()):
        depth.add_metric([str(priority)], count)
    return Response(exposition([depth]), media_type=CONTENT_TYPE)
