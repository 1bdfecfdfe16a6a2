"""The one way numbers are shown: by the report and the CSV headers
(shared.formatting), and the same by the member commands (botclub.numbers), which may
not import it."""

from __future__ import annotations

import pytest
from formatting_cases import CASES

from botclub import numbers
from shared.contracts.results import BacktestStatistics
from shared.formatting import KINDS, Kind, shown, shown_statistic


@pytest.mark.parametrize(("kind", "value", "text"), CASES)
def test_each_kind_is_shown_as_the_table_says(kind: Kind, value: float | None, text: str) -> None:
    assert shown(kind, value) == text
    assert numbers.shown(kind, value) == text


def test_the_commands_give_each_statistic_the_same_kind() -> None:
    assert {name: KINDS[name] for name in numbers.KIND_OF} == numbers.KIND_OF


def test_every_statistic_has_a_kind() -> None:
    assert set(BacktestStatistics.model_fields) <= set(KINDS)


def test_a_statistic_is_shown_by_its_kind() -> None:
    assert shown_statistic("final_equity", 26686.4131) == "26,686.41"
    assert shown_statistic("buy_and_hold_return", -0.0863) == "-8.63 %"
    assert shown_statistic("sharpe_ratio", 0.6851) == "0.69"
    assert shown_statistic("total_trades", 3178) == "3,178"
    assert shown_statistic("an_unknown_name", 1.005) == "1.00"
