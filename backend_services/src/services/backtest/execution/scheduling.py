"""Which waiting executions start next, in either pool: priorities first, then members
in turn.

Run by priority and then in order of arrival, one member's 10,000-combination sweep,
or a burst of a hundred backtests, would hold every worker while the others wait. Both
pools (the embedded processes, `worker_pool`, and the Celery fleet, `fleet_pool`)
therefore start no more runs than there are free worker slots, choosing each one here:
the most urgent priority first; within it, the member holding the fewest slots (so
members take turns), then the member served least recently (so when several slots free
at once, the member who waited gets the first), then the oldest. A member holding `cap`
slots gets no more while another member's work waits; alone, a member may use them all.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

__all__ = ["WaitingRun", "member_cap", "next_runs"]


@dataclass(frozen=True, slots=True)
class WaitingRun:
    execution_id: str
    user_id: str
    priority: int  # 0 most urgent
    submitted_at: datetime


def member_cap(slots: int, share: float) -> int:
    """The slots one member may hold while others wait: `share` of them, at least one."""
    return max(1, math.floor(slots * share))


def next_runs(
    waiting: Sequence[WaitingRun],
    held: Mapping[str, int],
    free: int,
    cap: int,
    last_served: Mapping[str, float] | None = None,
) -> list[WaitingRun]:
    """Up to `free` of `waiting` to start now, in order; `held` counts the slots each
    member holds (running, or published and not yet started), `last_served` when each
    member last had a run started (any increasing clock; never: first in line)."""
    holding = Counter(held)
    served = dict(last_served or {})
    turn = max(served.values(), default=0.0)
    left = list(waiting)
    chosen: list[WaitingRun] = []
    while len(chosen) < free and left:
        under_cap = [run for run in left if holding[run.user_id] < cap]
        candidates = under_cap or left  # over the cap only when nobody else waits
        best = min(
            candidates,
            key=lambda run: (
                run.priority,
                holding[run.user_id],
                served.get(run.user_id, -math.inf),
                run.submitted_at,
            ),
        )
        chosen.append(best)
        left.remove(best)
        holding[best.user_id] += 1
        turn += 1
        served[best.user_id] = turn
    return chosen
