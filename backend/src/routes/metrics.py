"""Prometheus metrics of the API service (unauthenticated, like the health probes:
expose the port to the scraper, not the metrics to the world)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from shared.metrics import CONTENT_TYPE, METRICS_PATH, exposition

router = APIRouter(tags=["health"])


@router.get(METRICS_PATH, summary="Prometheus metrics", include_in_schema=False)
async def metrics() -> Response:
    """HTTP latency per route and status, in Prometheus's text format."""
    return Response(exposition(), media_type=CONTENT_TYPE)
