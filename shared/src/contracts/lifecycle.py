"""A backtest's lifecycle: its states and the only legal moves between them, for both
services. The API's record and the compute service's execution record are two views of
one lifecycle, and every store builds the guard of each status change from this table
(`movable_to`), so no query anywhere decides on its own which moves are legal.

    pending ──► queued ──► running ──► completed
       │          ▲ │ ▲      │ │
       │          │ │ └──────┘ │         (running -> running: a stale run taken over)
       │          │ └──────────┼──► failed, cancelled
       │          └────────────┘         (running -> queued: its worker was lost)
       └──► completed, failed, cancelled

- pending: the API has it; the compute service does not yet (the API's view only).
- queued, running: the compute service has it. The API may learn of the final state
  before it recorded the hand-over (a fast run's result can outrun the dispatch's
  answer), so pending may move straight to a final state.
- A live backtest whose execution the compute service lost goes back to pending, to be
  handed over again.
- completed, failed, cancelled are final: nothing leaves them.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "FINAL_STATUS_VALUES",
    "LIVE_STATUS_VALUES",
    "TRANSITIONS",
    "BacktestStatus",
    "IllegalTransition",
    "can_move",
    "check_move",
    "movable_to",
]


class BacktestStatus(StrEnum):
    """Where a backtest is in its lifecycle; the same values in both services."""

    PENDING = "pending"
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return not TRANSITIONS[self]

    @property
    def is_live(self) -> bool:
        """Queued or running on the compute service."""
        return self in (BacktestStatus.QUEUED, BacktestStatus.RUNNING)


_FINAL = frozenset({BacktestStatus.COMPLETED, BacktestStatus.FAILED, BacktestStatus.CANCELLED})

TRANSITIONS: dict[BacktestStatus, frozenset[BacktestStatus]] = {
    BacktestStatus.PENDING: frozenset({BacktestStatus.QUEUED}) | _FINAL,
    BacktestStatus.QUEUED: frozenset({BacktestStatus.RUNNING, BacktestStatus.PENDING}) | _FINAL,
    BacktestStatus.RUNNING: frozenset(
        {BacktestStatus.RUNNING, BacktestStatus.QUEUED, BacktestStatus.PENDING}
    )
    | _FINAL,
    BacktestStatus.COMPLETED: frozenset(),
    BacktestStatus.FAILED: frozenset(),
    BacktestStatus.CANCELLED: frozenset(),
}

# The status groups, as the values MongoDB queries take.
LIVE_STATUS_VALUES = (BacktestStatus.QUEUED.value, BacktestStatus.RUNNING.value)
FINAL_STATUS_VALUES = tuple(status.value for status in BacktestStatus if status.is_final)


class IllegalTransition(ValueError):
    """A move the lifecycle table does not allow."""


def can_move(source: BacktestStatus, target: BacktestStatus) -> bool:
    return target in TRANSITIONS[source]


def check_move(source: BacktestStatus, target: BacktestStatus) -> None:
    """Raise IllegalTransition unless the table allows `source` -> `target`."""
    if not can_move(source, target):
        raise IllegalTransition(f"a backtest cannot move from {source.value} to {target.value}")


def movable_to(target: BacktestStatus, *among: BacktestStatus) -> str | dict[str, list[str]]:
    """The guard of a move to `target`, as a MongoDB condition on `status`: the states
    the table allows it from (only those of `among`, when given, for a move a caller
    allows from fewer states; IllegalTransition if the table allows none of them). An
    update filtered by it changes nothing from any other state, so two writers racing
    can never move a record backwards. One state is an equality (which a compound
    index on status serves as a prefix), several an `$in`."""
    sources = [status for status in BacktestStatus if can_move(status, target)]
    if among:
        for status in among:
            check_move(status, target)
        sources = [status for status in sources if status in among]
    if len(sources) == 1:
        return sources[0].value
    return {"$in": [status.value for status in sources]}
