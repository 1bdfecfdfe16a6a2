"""Fills, costs and the equity curve, on series small enough to check by hand."""

from __future__ import annotations

import numpy as np
import pytest

from backend_services.market_data.bars import Bars
from backend_services.services.backtest.simulation import simulate_long_only

DAY = 86_400


def _bars(opens: list[float], closes: list[float]) -> Bars:
    o, c = np.array(opens, dtype=float), np.array(closes, dtype=float)
    return Bars(
        time=np.arange(len(opens), dtype=np.int64) * DAY,
        open=o,
        high=np.maximum(o, c) + 1,
        low=np.minimum(o, c) - 1,
        close=c,
        volume=np.ones(len(opens)),
    )


def _signals(n: int, at: list[int]) -> np.ndarray:
    flags = np.zeros(n, dtype=bool)
    flags[at] = True
    return flags


BARS = _bars([10, 11, 12, 13, 14, 15], [10.5, 11.5, 12.5, 13.5, 14.5, 15.5])


def test_signal_on_a_close_fills_at_the_next_open() -> None:
    sim = simulate_long_only(BARS, _signals(6, [0]), _signals(6, [2]), 1_000, 0.0)

    (trade,) = sim.trades
    assert (trade.entry_bar, trade.exit_bar) == (1, 3)
    assert (trade.entry_price, trade.exit_price) == (11, 13)
    assert trade.size == pytest.approx(1_000 / 11)
    assert trade.pnl == pytest.approx(1_000 * 13 / 11 - 1_000)
    assert trade.return_fraction == pytest.approx(13 / 11 - 1)
    assert trade.exit_reason == "signal"
    assert trade.bars_held == 2
    size = 1_000 / 11
    expected = [1_000, size * 11.5, size * 12.5, size * 13, size * 13, size * 13]
    assert sim.equity == pytest.approx(expected)
    assert sim.in_position.tolist() == [False, True, True, False, False, False]


def test_commission_is_charged_on_both_fills() -> None:
    sim = simulate_long_only(BARS, _signals(6, [0]), _signals(6, [2]), 1_000, 0.01)

    (trade,) = sim.trades
    assert trade.size == pytest.approx(1_000 / (11 * 1.01))
    assert trade.return_fraction == pytest.approx(13 * 0.99 / (11 * 1.01) - 1)
    assert sim.equity[-1] == pytest.approx(1_000 * 13 * 0.99 / (11 * 1.01))


def test_open_position_is_closed_at_the_last_close() -> None:
    sim = simulate_long_only(BARS, _signals(6, [3]), _signals(6, []), 1_000, 0.0)

    (trade,) = sim.trades
    assert (trade.entry_bar, trade.exit_bar) == (4, 5)
    assert (trade.entry_price, trade.exit_price) == (14, 15.5)
    assert trade.exit_reason == "end_of_data"
    assert trade.bars_held == 2
    assert sim.equity[4] == pytest.approx(1_000 / 14 * 14.5)
    assert sim.equity[5] == pytest.approx(1_000 / 14 * 15.5)
    assert sim.in_position.tolist() == [False] * 4 + [True, True]


def test_signal_on_the_last_bar_is_not_filled() -> None:
    sim = simulate_long_only(BARS, _signals(6, [5]), _signals(6, []), 1_000, 0.0)

    assert sim.trades == []
    assert sim.equity.tolist() == [1_000] * 6


def test_exits_while_flat_and_entries_while_long_are_ignored() -> None:
    sim = simulate_long_only(BARS, _signals(6, [1, 2]), _signals(6, [0, 3]), 1_000, 0.0)

    assert [(t.entry_bar, t.exit_bar) for t in sim.trades] == [(2, 4)]


def test_consecutive_trades_compound() -> None:
    sim = simulate_long_only(BARS, _signals(6, [0, 3]), _signals(6, [1]), 1_000, 0.0)

    first, second = sim.trades
    assert first.return_fraction == pytest.approx(12 / 11 - 1)
    assert second.return_fraction == pytest.approx(15.5 / 14 - 1)
    assert sim.equity[-1] == pytest.approx(1_000 * 12 / 11 * 15.5 / 14)
    assert sim.equity[-1] - 1_000 == pytest.approx(first.pnl + second.pnl)
