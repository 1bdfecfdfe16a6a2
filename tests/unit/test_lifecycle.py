"""The lifecycle table: the only source of legal moves between a backtest's states."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from itertools import product
from pathlib import Path

import pytest

from shared.contracts.lifecycle import (
    TRANSITIONS,
    BacktestStatus,
    IllegalTransition,
    can_move,
    check_move,
    movable_to,
)

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = [ROOT / "backend" / "src", ROOT / "backend_services" / "src"]
UPDATES = {"update_one", "update_many", "find_one_and_update"}
FINAL = [BacktestStatus.COMPLETED, BacktestStatus.FAILED, BacktestStatus.CANCELLED]


def test_final_states_have_no_way_out_and_every_live_state_can_end() -> None:
    for status in BacktestStatus:
        assert status.is_final == (status in FINAL)
        if not status.is_final:
            assert set(FINAL) <= TRANSITIONS[status], status


@pytest.mark.parametrize(("source", "target"), list(product(BacktestStatus, BacktestStatus)))
def test_a_move_is_legal_exactly_when_the_table_lists_it(
    source: BacktestStatus, target: BacktestStatus
) -> None:
    assert can_move(source, target) == (target in TRANSITIONS[source])
    if can_move(source, target):
        check_move(source, target)
    else:
        with pytest.raises(IllegalTransition, match=f"from {source.value} to {target.value}"):
            check_move(source, target)


@pytest.mark.parametrize("target", list(BacktestStatus))
def test_a_guard_admits_exactly_the_states_the_table_allows_the_move_from(
    target: BacktestStatus,
) -> None:
    allowed = {status.value for status in BacktestStatus if target in TRANSITIONS[status]}
    guard = movable_to(target)

    admitted = {guard} if isinstance(guard, str) else set(guard["$in"])

    assert admitted == allowed


def test_a_guard_narrowed_to_a_state_the_table_forbids_is_refused() -> None:
    with pytest.raises(IllegalTransition):
        movable_to(BacktestStatus.QUEUED, BacktestStatus.COMPLETED)
    assert movable_to(BacktestStatus.CANCELLED, BacktestStatus.PENDING) == "pending"


def _status_changes() -> Iterator[tuple[Path, ast.Call, ast.FunctionDef | ast.AsyncFunctionDef]]:
    """Every MongoDB update in the services whose update sets `status`."""
    for folder in PRODUCT:
        for path in folder.rglob("*.py"):
            tree = ast.parse(path.read_text(), str(path))
            for function in ast.walk(tree):
                if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                for node in ast.walk(function):
                    if (
                        isinstance(node, ast.Call)
                        and isinstance(node.func, ast.Attribute)
                        and node.func.attr in UPDATES
                        and len(node.args) >= 2
                        and _sets_status(node.args[1], function)
                    ):
                        yield path, node, function


def _sets_status(update: ast.expr, function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    fields = _dict_of(update, function)
    if fields is None:
        return False
    for key, value in zip(fields.keys, fields.values, strict=True):
        changes = _dict_of(value, function)
        if isinstance(key, ast.Constant) and key.value == "$set" and changes is not None:
            return any(
                isinstance(name, ast.Constant) and name.value == "status" for name in changes.keys
            )
    return False


def _dict_of(
    expression: ast.expr, function: ast.FunctionDef | ast.AsyncFunctionDef
) -> ast.Dict | None:
    """A dict literal: written in place, or first assigned to the name used."""
    if isinstance(expression, ast.Dict):
        return expression
    if isinstance(expression, ast.Name):
        for node in ast.walk(function):
            if isinstance(node, ast.AnnAssign | ast.Assign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if any(isinstance(t, ast.Name) and t.id == expression.id for t in targets):
                    return node.value if isinstance(node.value, ast.Dict) else None
    return None


def _guarded_by_the_table(query: ast.Dict) -> bool:
    for key, value in zip(query.keys, query.values, strict=True):
        if isinstance(key, ast.Constant) and key.value == "status":
            return (
                isinstance(value, ast.Call)
                and isinstance(value.func, ast.Name)
                and value.func.id == "movable_to"
            )
    return False


def test_every_status_change_in_the_services_is_guarded_by_the_lifecycle_table() -> None:
    changes = list(_status_changes())
    unguarded = []
    for path, call, function in changes:
        query = _dict_of(call.args[0], function)
        if query is None or not _guarded_by_the_table(query):
            unguarded.append(f"{path.relative_to(ROOT)}:{call.lineno} ({function.name})")

    assert len(changes) >= 9, "the scan finds the stores' status changes"
    assert not unguarded, "status changes not guarded by movable_to: " + ", ".join(unguarded)
