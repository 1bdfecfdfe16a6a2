"""What the end-to-end benchmark reads from the services themselves: the stages of each
backtest from the timestamps its records carry, and the MongoDB commands each service
counted (`botclub_mongo_commands_total` at /metrics, the compute service's including
its worker processes).

Stages come from a record's `stages` sub-document (stage name -> datetime) where it has
one; a record without it gives what its own fields say: the backtest's `created_at`
(accepted) and, once final, `updated_at` (saved); the execution's `created_at` (queued
at the compute service), `dispatched_at` (published to the fleet), `start_time`
(claimed by a worker), `end_time` (its final state and result stored) and
`delivered_at` (acknowledged by the API).
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import httpx
from e2e_member import FINAL, Run
from prometheus_client.parser import text_string_to_metric_families
from pymongo.database import Database

from shared.mongo import Document

__all__ = ["CommandCounts", "command_counts", "print_round_trips", "print_stages", "stages_of"]

MONGO_COMMANDS = "botclub_mongo_commands"
SERVICES = ("api", "compute")
# Where a record without `stages` keeps the time of each: (collection, field, stage).
_DERIVED = (
    ("backtests", "created_at", "accepted"),
    ("executions", "created_at", "queued"),
    ("executions", "dispatched_at", "dispatched"),
    ("executions", "start_time", "claimed"),
    ("executions", "end_time", "result_stored"),
    ("executions", "delivered_at", "delivered"),
    ("backtests", "updated_at", "saved"),
)
CLIENT_STAGES = ("POST answered (client)", "final state seen (client)")

# Commands by (service, name).
CommandCounts = Counter[tuple[str, str]]


def _seconds(at: Any) -> float | None:
    if isinstance(at, datetime):
        return at.timestamp()
    if isinstance(at, str):
        return datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp()
    return None


def _record_stages(collection: str, record: Document) -> dict[str, float]:
    """Stage -> epoch seconds, from the record's `stages` or else its own fields."""
    recorded = record.get("stages")
    if isinstance(recorded, dict):
        pairs = ((name, _seconds(at)) for name, at in recorded.items())
    else:
        pairs = (
            (stage, _seconds(record.get(field)))
            for source, field, stage in _DERIVED
            if source == collection
            and not (field == "updated_at" and record.get("status") not in FINAL)
        )
    return {name: at for name, at in pairs if at is not None}


def stages_of(database: Database[Document], runs: list[Run]) -> dict[str, list[float]]:
    """Milliseconds from each run's submit to each stage, by stage name; a stage both
    records name is kept once per record (the execution's suffixed)."""
    ids = [run.backtest_id for run in runs]
    backtests = {d["_id"]: d for d in database["backtests"].find({"_id": {"$in": ids}})}
    executions = {
        d["backtest_id"]: d for d in database["executions"].find({"backtest_id": {"$in": ids}})
    }
    by_stage: dict[str, list[float]] = {}
    for run in runs:
        stages = _record_stages("backtests", backtests.get(run.backtest_id, {}))
        for name, at in _record_stages("executions", executions.get(run.backtest_id, {})).items():
            stages[f"{name} (execution)" if name in stages else name] = at
        stages[CLIENT_STAGES[0]] = run.answered
        if run.final_at is not None:
            stages[CLIENT_STAGES[1]] = run.final_at
        for name, at in stages.items():
            by_stage.setdefault(name, []).append((at - run.submitted) * 1e3)
    return by_stage


def percentile(values: Iterable[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def print_stages(title: str, database: Database[Document], runs: list[Run]) -> None:
    by_stage = stages_of(database, runs)
    print(f"  breakdown ({title}), ms since submit over {len(runs)} backtests:")
    ordered = sorted(by_stage.items(), key=lambda item: statistics.median(item[1]))
    for name, values in ordered:
        print(
            f"    {name:34s} median {statistics.median(values):8.1f}   "
            f"p90 {percentile(values, 0.9):8.1f}   (n={len(values)})"
        )


async def command_counts(http: httpx.AsyncClient, urls: dict[str, str]) -> CommandCounts:
    """The MongoDB commands each service has counted so far, by name."""
    counts: CommandCounts = Counter()
    for service, url in urls.items():
        response = await http.get(f"{url}/metrics")
        response.raise_for_status()
        for family in text_string_to_metric_families(response.text):
            if family.name != MONGO_COMMANDS:
                continue
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    counts[(service, sample.labels["command"])] += int(sample.value)
    return counts


def print_round_trips(
    spent: CommandCounts, backtests: int, idle_per_s: float, seconds: float
) -> None:
    """The commands `spent` over `seconds` per backtest, by service and name, and in
    total; `idle_per_s` is what the services send per second with nothing to do (health
    probes, sweeps), so the part of the total that is not the backtests' own can be told."""
    backtests = max(backtests, 1)
    total = sum(spent.values()) / backtests
    background = idle_per_s * seconds / backtests
    print(
        f"  MongoDB round trips per backtest: {total:.1f} "
        f"(of which idle background about {background:.1f}: {seconds:.1f} s of it)"
    )
    for service in SERVICES:
        mine = {name: count for (owner, name), count in spent.items() if owner == service}
        listed = ", ".join(
            f"{name} {count / backtests:.1f}"
            for name, count in sorted(mine.items(), key=lambda item: -item[1])
        )
        print(f"    {service:8s} {sum(mine.values()) / backtests:6.1f}: {listed}")
