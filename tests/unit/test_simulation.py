"""Fills, stops, sizing, costs and the equity curve, on series small enough to check by
hand."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from backend_services.services.backtest.engine.simulation import Simulation, simulate
from backend_services.services.backtest.engine.trade_search import Signals
from shared.contracts.strategies import Costs, Orders, Sizing
from shared.market_data.bars import Bars

DAY = 86_400
NO_COSTS = Costs(commission_pct=0)


def _bars(
    opens: Sequence[float],
    closes: Sequence[float],
    highs: Sequence[float] | None = None,
    lows: Sequence[float] | None = None,
) -> Bars:
    o, c = np.array(opens, dtype=float), np.array(closes, dtype=float)
    return Bars(
        time=np.arange(len(opens), dtype=np.int64) * DAY,
        open=o,
        high=np.array(highs, dtype=float) if highs else np.maximum(o, c) + 1,
        low=np.array(lows, dtype=float) if lows else np.minimum(o, c) - 1,
        close=c,
        volume=np.ones(len(opens)),
    )


def run(
    bars: Bars,
    long_entry: list[int] | None = None,
    long_exit: list[int] | None = None,
    short_entry: list[int] | None = None,
    short_exit: list[int] | None = None,
    costs: Costs = NO_COSTS,
    **orders: Any,
) -> Simulation:
    signals = Signals(
        long_entry=np.array(long_entry or [], dtype=np.int64),
        long_exit=np.array(long_exit or [], dtype=np.int64),
        short_entry=np.array(short_entry or [], dtype=np.int64),
        short_exit=np.array(short_exit or [], dtype=np.int64),
    )
    return simulate(bars, signals, 1_000, Orders(**orders), costs)


BARS = _bars([10, 11, 12, 13, 14, 15], [10.5, 11.5, 12.5, 13.5, 14.5, 15.5])


def test_signal_on_a_close_fills_at_the_next_open() -> None:
    sim = run(BARS, long_entry=[0], long_exit=[2])

    (trade,) = sim.trades
    assert (trade.side, trade.entry_bar, trade.exit_bar) == ("long", 1, 3)
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


def test_fill_at_the_signal_close() -> None:
    sim = run(BARS, long_entry=[0], long_exit=[2], fill="close")

    (trade,) = sim.trades
    assert (trade.entry_bar, trade.exit_bar) == (0, 2)
    assert (trade.entry_price, trade.exit_price) == (10.5, 12.5)
    assert trade.bars_held == 2
    assert sim.equity[-1] == pytest.approx(1_000 * 12.5 / 10.5)


def test_a_long_entry_wins_over_a_short_entry_on_the_same_bar() -> None:
    bars = _bars([10] * 6, [10] * 6)

    sim = run(bars, long_entry=[1], short_entry=[1, 3])

    long, short = sim.trades
    assert (long.side, long.entry_bar, long.exit_bar, long.exit_reason) == ("long", 2, 4, "signal")
    assert (short.side, short.entry_bar, short.exit_reason) == ("short", 4, "end_of_data")


def test_commission_and_fee_are_charged_on_both_fills() -> None:
    costs = Costs(commission_pct=0.01, fee_per_fill=2)
    sim = run(BARS, long_entry=[0], long_exit=[2], costs=costs)

    (trade,) = sim.trades
    size = (1_000 - 2) / (11 * 1.01)
    assert trade.size == pytest.approx(size)
    final = 1_000 - 2 - size * 11 * 1.01 + size * 13 * 0.99 - 2
    assert sim.equity[-1] == pytest.approx(final)
    assert trade.pnl == pytest.approx(final - 1_000)


def test_slippage_moves_both_fills_against_the_trader() -> None:
    sim = run(BARS, long_entry=[0], long_exit=[2], costs=Costs(commission_pct=0, slippage_pct=0.01))

    (trade,) = sim.trades
    assert (trade.entry_price, trade.exit_price) == pytest.approx((11 * 1.01, 13 * 0.99))


def test_a_short_gains_when_the_price_falls() -> None:
    falling = _bars([20, 19, 18, 17, 16], [19.5, 18.5, 17.5, 16.5, 15.5])

    sim = run(falling, short_entry=[0], short_exit=[2])

    (trade,) = sim.trades
    assert (trade.side, trade.entry_price, trade.exit_price) == ("short", 19, 17)
    size = 1_000 / 19
    assert trade.pnl == pytest.approx(size * 2)
    assert sim.equity[1] == pytest.approx(1_000 + size * (19 - 18.5))
    assert sim.equity[-1] == pytest.approx(1_000 + size * 2)


def test_an_opposite_entry_reverses_the_position_at_the_same_fill() -> None:
    sim = run(BARS, long_entry=[0], short_entry=[2])

    long, short = sim.trades
    assert (long.side, long.exit_bar, long.exit_reason) == ("long", 3, "signal")
    assert (short.side, short.entry_bar, short.entry_price) == ("short", 3, 13)
    assert short.exit_reason == "end_of_data"
    assert sim.equity[-1] - 1_000 == pytest.approx(long.pnl + short.pnl)


def test_open_position_is_closed_at_the_last_close() -> None:
    sim = run(BARS, long_entry=[3])

    (trade,) = sim.trades
    assert (trade.entry_bar, trade.exit_bar) == (4, 5)
    assert (trade.entry_price, trade.exit_price) == (14, 15.5)
    assert trade.exit_reason == "end_of_data"
    assert trade.bars_held == 2
    assert sim.in_position.tolist() == [False] * 4 + [True, True]


def test_signal_on_the_last_bar_is_not_filled() -> None:
    sim = run(BARS, long_entry=[5])

    assert len(sim.trades) == 0
    assert sim.equity.tolist() == [1_000] * 6


def test_exits_while_flat_and_entries_while_long_are_ignored() -> None:
    sim = run(BARS, long_entry=[1, 2], long_exit=[0, 3])

    assert [(t.entry_bar, t.exit_bar) for t in sim.trades] == [(2, 4)]


def test_stop_loss_fills_at_its_level_inside_the_bar() -> None:
    bars = _bars([10, 10, 10, 10, 10], [10, 10, 10, 10, 10], lows=[9.5, 9.5, 9.5, 8.5, 9.5])

    sim = run(bars, long_entry=[0], stop_loss_pct=0.1)

    (trade,) = sim.trades
    assert (trade.exit_bar, trade.exit_price, trade.exit_reason) == (3, 9, "stop_loss")
    assert trade.bars_held == 3
    assert sim.equity[3] == pytest.approx(1_000 * 0.9)
    assert sim.in_position.tolist() == [False, True, True, True, False]


def test_a_gap_through_the_stop_fills_at_the_open() -> None:
    bars = _bars([10, 10, 8, 8], [10, 10, 8, 8], lows=[9.5, 9.5, 7.5, 7.5])

    sim = run(bars, long_entry=[0], stop_loss_pct=0.1)

    assert sim.trades[0].exit_price == 8


def test_take_profit_and_stop_in_one_bar_take_the_stop() -> None:
    bars = _bars([10, 10, 10], [10, 10, 10], highs=[10, 10, 12], lows=[10, 10, 8])

    sim = run(bars, long_entry=[0], stop_loss_pct=0.1, take_profit_pct=0.1)

    assert (sim.trades[0].exit_reason, sim.trades[0].exit_price) == ("stop_loss", 9)


def test_take_profit_fills_at_its_level_or_a_better_open() -> None:
    bars = _bars([10, 10, 10, 13], [10, 10, 10, 13], highs=[10, 10, 11.5, 13.5])

    first = run(bars, long_entry=[0], take_profit_pct=0.1)
    gap = run(bars, long_entry=[0], take_profit_pct=0.2)

    assert (first.trades[0].exit_bar, first.trades[0].exit_price) == (2, 11)
    assert (gap.trades[0].exit_bar, gap.trades[0].exit_price) == (3, 13)
    assert gap.trades[0].exit_reason == "take_profit"


def test_trailing_stop_follows_the_highest_high_since_entry() -> None:
    #              0   1   2   3   4   5
    highs = [10, 10, 12, 15, 14, 14]
    lows = [10, 10, 11, 14, 13.4, 13]
    bars = _bars([10, 10, 11, 14, 14, 14], [10, 11, 12, 14, 14, 14], highs=highs, lows=lows)

    sim = run(bars, long_entry=[0], trailing_stop_pct=0.1, stop_loss_pct=0.2)

    (trade,) = sim.trades
    # Highest high up to bar 3 is 15: the stop is at 13.5, reached in bar 4.
    assert (trade.exit_bar, trade.exit_price, trade.exit_reason) == (4, 13.5, "trailing_stop")


def test_stop_on_a_short_is_above_the_entry() -> None:
    bars = _bars([10, 10, 10, 10], [10, 10, 10, 10], highs=[10.5, 10.5, 11.5, 10.5])

    sim = run(bars, short_entry=[0], stop_loss_pct=0.1)

    (trade,) = sim.trades
    assert (trade.exit_bar, trade.exit_price, trade.exit_reason) == (2, 11, "stop_loss")
    assert trade.pnl == pytest.approx(-100)


def test_after_a_stop_the_next_entry_signal_trades_again() -> None:
    bars = _bars([10] * 6, [10] * 6, lows=[10, 10, 8, 10, 10, 10])

    sim = run(bars, long_entry=[0, 2], stop_loss_pct=0.1)

    assert [(t.entry_bar, t.exit_reason) for t in sim.trades] == [
        (1, "stop_loss"),
        (3, "end_of_data"),
    ]


@pytest.mark.parametrize(
    ("sizing", "units"),
    [
        (Sizing(kind="fraction_of_equity", value=0.5), 500 / 11),
        (Sizing(kind="fixed_cash", value=220), 20),
        (Sizing(kind="fixed_units", value=30), 30),
        (Sizing(kind="fixed_units", value=1_000), 1_000 / 11),  # as many as equity buys
    ],
)
def test_sizing(sizing: Sizing, units: float) -> None:
    sim = run(BARS, long_entry=[0], long_exit=[2], sizing=sizing)

    (trade,) = sim.trades
    assert trade.size == pytest.approx(units)
    assert sim.equity[1] == pytest.approx(1_000 - units * 11 + units * 11.5)


def test_consecutive_trades_compound() -> None:
    sim = run(BARS, long_entry=[0, 3], long_exit=[1])

    first, second = sim.trades
    assert first.return_fraction == pytest.approx(12 / 11 - 1)
    assert second.return_fraction == pytest.approx(15.5 / 14 - 1)
    assert sim.equity[-1] == pytest.approx(1_000 * 12 / 11 * 15.5 / 14)
    assert sim.equity[-1] - 1_000 == pytest.approx(first.pnl + second.pnl)
