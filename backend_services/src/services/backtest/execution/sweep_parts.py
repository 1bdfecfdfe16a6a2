"""A sweep fanned out over a fleet: its combinations in parts of SWEEP_PART_SIZE, each
claimed and run by any worker, their rows kept in `sweep_parts` (with the per-block
moments of their returns, as the bytes of a float64 array) until the run that owns the
sweep merges them into one ranking, identical to the sweep run whole.

The run that claimed the execution owns the sweep. It writes the parts (named by its run
id), asks the fleet for a helper per part beyond the first (tasks at the lowest
priority, so any execution waiting for a worker goes first), runs parts itself, waits
for the helpers' parts while its heartbeat keeps the execution alive, takes back a part
whose helper stopped beating, and merges. A helper claims a waiting part, runs it while
beating it, stores its rows, and looks for another. Every claim and write names the
owner's run: once the sweep is cancelled or its run given up on, helpers stop at their
next progress tick and nothing they write is read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from pymongo import ASCENDING, ReturnDocument
from pymongo.collection import Collection

from backend_services.services.backtest.backtest_engine import SweepBatch
from shared.contracts.common import utc_now
from shared.contracts.sweeps import RankedTable
from shared.mongo import Document

__all__ = ["PARTS_COLLECTION", "Part", "SweepParts"]

PARTS_COLLECTION = "sweep_parts"
_WAITING, _RUNNING, _DONE = "waiting", "running", "done"

# Asks the fleet for `count` helpers of the sweep of (execution id, run id).
AskForHelpers = Callable[[str, str, int], None]


@dataclass(frozen=True, slots=True)
class Part:
    index: int
    indices: range


class SweepParts:
    """The parts of one run's sweep."""

    def __init__(self, parts: Collection[Document], execution_id: str, run_id: str) -> None:
        self._parts = parts
        self._sweep = {"execution_id": execution_id, "run_id": run_id}

    def create(self, combinations: int, size: int) -> int:
        """Split `combinations` into parts of `size`; how many parts."""
        documents = [
            {
                "_id": f"{self._sweep['execution_id']}:{self._sweep['run_id']}:{index}",
                **self._sweep,
                "index": index,
                "start": start,
                "stop": min(combinations, start + size),
                "state": _WAITING,
                "worker": None,
                "beat_at": None,
                "rows": None,
                "moments": None,
            }
            for index, start in enumerate(range(0, combinations, size))
        ]
        self._parts.insert_many(documents)
        return len(documents)

    def claim(self, worker: str, stale_before: datetime) -> Part | None:
        """A waiting part, or one whose worker stopped beating before `stale_before`,
        now running on `worker`; None when every part is running or done."""
        for state in ({"state": _WAITING}, {"state": _RUNNING, "beat_at": {"$lt": stale_before}}):
            claimed = self._parts.find_one_and_update(
                self._sweep | state,
                {"$set": {"state": _RUNNING, "worker": worker, "beat_at": utc_now()}},
                {"index": 1, "start": 1, "stop": 1},
                sort=[("index", ASCENDING)],
                return_document=ReturnDocument.AFTER,
            )
            if claimed is not None:
                return Part(int(claimed["index"]), range(claimed["start"], claimed["stop"]))
        return None

    def beat(self, part: Part, worker: str) -> None:
        self._parts.update_one(self._one(part, worker), {"$set": {"beat_at": utc_now()}})

    def store(self, part: Part, worker: str, batch: SweepBatch) -> None:
        """The part's rows, unless another worker took the part over meanwhile."""
        rows = RankedTable.of_rows(batch.rows).model_dump(mode="json")
        moments = batch.moments_bytes()
        self._parts.update_one(
            self._one(part, worker),
            {"$set": {"state": _DONE, "rows": rows, "moments": moments}},
        )

    def combinations_done(self) -> int:
        done = self._parts.find(self._sweep | {"state": _DONE}, {"start": 1, "stop": 1})
        return sum(part["stop"] - part["start"] for part in done)

    def all_done(self) -> bool:
        return self._parts.count_documents(self._sweep | {"state": {"$ne": _DONE}}) == 0

    def rows(self) -> tuple[SweepBatch, list[str]]:
        """Every part's rows in grid order, and the workers that ran the parts."""
        parts = list(
            self._parts.find(self._sweep, {"rows": 1, "moments": 1, "worker": 1}).sort("index")
        )
        batches = [
            SweepBatch.of_bytes(RankedTable(**part["rows"]).rows(), part["moments"])
            for part in parts
        ]
        return SweepBatch.joined(batches), sorted({part["worker"] for part in parts})

    def remove(self) -> None:
        self._parts.delete_many(self._sweep)

    def _one(self, part: Part, worker: str) -> Document:
        return self._sweep | {"index": part.index, "state": _RUNNING, "worker": worker}
