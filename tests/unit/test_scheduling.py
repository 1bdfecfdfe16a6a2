"""Which waiting executions a fleet starts: priorities, members in turn, a capped share."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from backend_services.services.backtest.execution.scheduling import (
    WaitingRun,
    member_cap,
    next_runs,
)

_T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _runs(*specs: tuple[str, int]) -> list[WaitingRun]:
    """(member, priority) in order of submission."""
    return [
        WaitingRun(f"{user}{index}", user, priority, _T0 + timedelta(seconds=index))
        for index, (user, priority) in enumerate(specs)
    ]


def _ids(runs: list[WaitingRun]) -> list[str]:
    return [run.execution_id for run in runs]


def test_members_take_turns_whatever_the_order_of_submission() -> None:
    waiting = _runs(("a", 5), ("a", 5), ("a", 5), ("b", 5), ("b", 5), ("c", 5))

    assert _ids(next_runs(waiting, {}, free=6, cap=6)) == ["a0", "b3", "c5", "a1", "b4", "a2"]


def test_the_most_urgent_priority_goes_first() -> None:
    waiting = _runs(("a", 5), ("b", 5), ("a", 0))

    assert _ids(next_runs(waiting, {}, free=1, cap=1)) == ["a2"]


def test_a_member_at_the_cap_waits_while_another_member_waits() -> None:
    waiting = _runs(("a", 5), ("a", 5), ("b", 5), ("b", 5))

    assert _ids(next_runs(waiting, {"a": 2}, free=1, cap=2)) == ["b2"]
    # Once nobody else waits, a slot left free goes to the member over the cap.
    assert _ids(next_runs(waiting[:3], {"a": 2}, free=2, cap=2)) == ["b2", "a0"]


def test_alone_a_member_uses_every_free_slot() -> None:
    waiting = _runs(("a", 5), ("a", 5), ("a", 5))

    assert _ids(next_runs(waiting, {"a": 3}, free=3, cap=2)) == ["a0", "a1", "a2"]


def test_nothing_starts_without_a_free_slot() -> None:
    assert next_runs(_runs(("a", 5)), {"b": 4}, free=0, cap=2) == []


def test_the_cap_is_a_share_of_the_slots_and_at_least_one() -> None:
    assert member_cap(8, 0.5) == 4
    assert member_cap(3, 0.5) == 1
    assert member_cap(1, 0.25) == 1


def test_slots_freed_at_once_go_first_to_the_member_who_waited() -> None:
    # a's two runs ended together: a and b hold nothing, a's next runs are older than
    # b's, but b has not been served yet.
    waiting = _runs(("a", 5), ("a", 5), ("b", 5), ("b", 5))

    chosen = next_runs(waiting, {}, free=2, cap=1, last_served={"a": 100.0})

    assert _ids(chosen) == ["b2", "a0"]
