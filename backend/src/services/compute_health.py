"""The API's check of the compute service, for its dependency monitor.

Whatever the compute service does, the check ends in one of three ways: its readiness
report, valid, when it is ready; DependencyDown, with that report, when it says it is
down; or an exception (unreachable, timed out, an answer that is not a readiness report,
5xx included), which the monitor counts as no answer. The API's readiness then says
`degraded`, never fails itself.
"""

from __future__ import annotations

from pydantic import ConfigDict

from backend.services.backtest_client import BacktestServiceClient
from shared.web.health import Readiness
from shared.web.health_monitor import Check, DependencyDown

__all__ = ["ComputeReport", "compute_service_check"]


class ComputeReport(Readiness):
    """The compute service's readiness report as it sent it (its worker pool too)."""

    model_config = ConfigDict(extra="allow")


def compute_service_check(client: BacktestServiceClient) -> Check:
    async def check() -> ComputeReport:
        report = ComputeReport.model_validate(await client.health())
        if report.status == "down":
            raise DependencyDown("the compute service reports itself down", report)
        return report

    return check
