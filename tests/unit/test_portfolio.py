"""Portfolios: one account over a basket, checked against the single backtest and by hand."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from helpers import daily_bars, minute_walk
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from backend_services.services.backtest.engine.portfolio import run_portfolio
from backend_services.services.backtest.engine.portfolio_calendar import (
    rebalance_bars,
    union_calendar,
)
from backend_services.services.backtest.engine.run import run_backtest
from backend_services.services.backtest.execution.trade_store import _decoded, _encoded
from shared.contracts.backtests import ResolvedBacktest
from shared.contracts.portfolios import Portfolio, Rebalance
from shared.contracts.strategies import Costs, Orders, Rules, Sizing

DAY = 86_400
START = 1_000_000_000 // DAY * DAY
FOLLOW_THE_CANDLE = Rules(long_entry="close >= open", long_exit="close < open")


def _backtest(
    rules: Rules | None = None, orders: Orders | None = None, costs: Costs | None = None
) -> ResolvedBacktest:
    """The rules (the strategy's crossover of 5 and 20 by default) on daily bars."""
    fields: dict[str, Any] = {
        "symbol": "A",
        "timeframe": "1d",
        "start_date": datetime(2000, 1, 1, tzinfo=UTC),
        "end_date": datetime(2030, 1, 1, tzinfo=UTC),
        "initial_capital": 1_000,
        "parameters": {"fast": 5, "slow": 20},
    }
    return ResolvedBacktest.model_validate(
        fields
        | {
            "rules": rules or Rules(),
            "orders": orders or Orders(),
            "costs": costs or Costs(commission_pct=0),
        }
    )


def _equity(run: Any) -> list[float]:
    return [round(value, 6) for value in run.result.equity_curve.equity]


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    fill=st.sampled_from(["next_open", "close"]),
    stops=st.booleans(),
    sizing=st.sampled_from(
        [
            Sizing(),
            Sizing(kind="fraction_of_equity", value=0.5),
            Sizing(kind="fixed_units", value=30),
        ]
    ),
    fee=st.sampled_from([0.0, 1.0]),
    shorts=st.booleans(),
)
def test_a_one_symbol_portfolio_is_the_single_backtest_to_the_last_bit(
    seed: int, fill: Any, stops: bool, sizing: Sizing, fee: float, shorts: bool
) -> None:
    rules = (
        Rules(long_entry="crossover(sma(close, fast), sma(close, slow))",
              short_entry="crossunder(sma(close, fast), sma(close, slow))")
        if shorts
        else Rules()
    )  # fmt: skip
    orders = Orders(
        fill=fill,
        sizing=sizing,
        stop_loss_pct=0.003 if stops else None,
        take_profit_pct=0.004 if stops else None,
    )
    backtest = _backtest(rules, orders, Costs(commission_pct=0.001, fee_per_fill=fee))
    bars = minute_walk(3_000, seed)
    single = run_backtest(bars, backtest, "s")
    basket = run_portfolio([("A", bars)], backtest, Portfolio(symbols=["A"]), "s")
    expected = single.result.model_dump(exclude={"portfolio", "trades"})
    assert basket.result.model_dump(exclude={"portfolio", "trades"}) == expected
    assert len(basket.trades) == len(single.trades)
    tagged = basket.trades.columns(0, len(basket.trades))
    assert tagged.pop("symbol") == ["A"] * len(single.trades)
    for name, column in single.trades.columns(0, len(single.trades)).items():
        assert np.array_equal(np.asarray(tagged[name]), np.asarray(column)), name
    assert basket.result.portfolio is not None
    assert basket.result.portfolio.symbols[0].pnl == pytest.approx(
        single.result.final_equity - 1_000, abs=1e-6
    )


# Two symbols over five days; each enters long at the next open after a bar closing at
# or above its open and leaves at the next open after one closing below.
# A enters day 1 at 10, leaves day 4 at 12. B enters day 1 at 20, leaves day 3 at 10,
# enters again day 4 at 10 and is closed at day 4's close, 20.
_A = daily_bars([10, 10, 12, 15, 12], [10, 12, 15, 12, 12])
_B = daily_bars([20, 20, 20, 10, 10], [20, 20, 10, 10, 20])
_HALF = Orders(sizing=Sizing(kind="fraction_of_equity", value=0.5))


def test_fixed_weights_rebalanced_every_two_bars_move_cash_to_the_share_below_its_weight() -> None:
    portfolio = Portfolio(
        symbols=["A", "B"],
        weighting="fixed",
        weights=[0.6, 0.4],
        rebalance=Rebalance(every=2, unit="bars"),
    )
    run = run_portfolio([("A", _A), ("B", _B)], _backtest(FOLLOW_THE_CANDLE, _HALF), portfolio, "s")
    # Day 0: A 600, B 400, both cash.
    # Day 1: A buys 30 at 10 (cash 300), B buys 10 at 20 (cash 200); closes: A 300 + 360,
    #   B 200 + 200: 1060. Rebalance: A's target 0.6 * 1060 = 636, so A gives 24 to B.
    # Day 2: A 276 + 30 * 15 = 726, B 224 + 10 * 10 = 324: 1050.
    # Day 3: B sells 10 at 10 (cash 324, pnl -100); A 276 + 360 = 636: 960. Rebalance:
    #   A's target 576: A gives 60, B holds 384.
    # Day 4: A sells 30 at 12 (cash 576, pnl 60); B buys half of 384 at 10, 19.2 units,
    #   closed at 20 (pnl 192): 576 + 576 = 1152.
    assert _equity(run) == [1000, 1060, 1050, 960, 1152]
    assert run.result.portfolio is not None
    assert run.result.portfolio.rebalances == 2
    assert [trade.size for trade in run.result.trades] == pytest.approx([30, 10, 19.2])
    assert [trade.symbol for trade in run.result.trades] == ["A", "B", "B"]
    contributions = {share.symbol: share.pnl for share in run.result.portfolio.symbols}
    assert contributions == pytest.approx({"A": 60, "B": -100 + 192})
    assert run.result.total_return == pytest.approx(0.152)


def test_without_rebalancing_each_share_keeps_its_own_money() -> None:
    portfolio = Portfolio(symbols=["A", "B"], weighting="fixed", weights=[0.6, 0.4])
    run = run_portfolio([("A", _A), ("B", _B)], _backtest(FOLLOW_THE_CANDLE, _HALF), portfolio, "s")
    # B's second entry is half of its own 400 - 100 = 300: 15 units, pnl 150.
    # Day 1: 300 + 360 + 200 + 200; day 2: 300 + 450 + 200 + 100; day 3: 660 + 300.
    assert _equity(run) == [1000, 1060, 1050, 960, 1110]
    assert [trade.size for trade in run.result.trades] == pytest.approx([30, 10, 15])


def test_a_symbol_without_a_bar_keeps_its_last_close_and_cannot_trade_then() -> None:
    flat = daily_bars([10] * 5, [10] * 5)
    # B has no bar on day 2: its exit signal of day 1 fills at its next own bar, day 3.
    gappy = daily_bars([10, 11, 14, 14], [11, 10, 14, 14], days=[0, 1, 3, 4])
    backtest = _backtest(FOLLOW_THE_CANDLE, Orders())
    # Rebalanced daily, B gives A the cash of its exit on day 3; nothing else changes.
    for rebalance in ("never", Rebalance(every=1, unit="days")):
        portfolio = Portfolio(symbols=["A", "B"], rebalance=rebalance)
        run = run_portfolio([("A", flat), ("B", gappy)], backtest, portfolio, "s")
        units = 500 / 11
        # A enters at 10 and its price never moves: 500 throughout. B: 500 buys 500 / 11
        # units at day 1's open, sold at day 3's open (14), bought again on day 4 at 14.
        expected = [1000, 500 + units * 10, 500 + units * 10, 500 + units * 14, 500 + units * 14]
        assert _equity(run) == [round(value, 6) for value in expected]
        b_trades = [trade for trade in run.result.trades if trade.symbol == "B"]
        assert b_trades[0].entry_time.timestamp() == START + DAY
        assert b_trades[0].exit_time.timestamp() == START + 3 * DAY  # not day 2
        assert run.result.bars == 5


def test_a_rebalanced_share_whose_equity_reaches_zero_is_liquidated_where_it_is_nothing() -> None:
    # A shorts 50 units at 10 with its 500 (its cash then 1,000); at day 2's close of 25
    # its share is worth 1,000 - 50 * 25 < 0: closed at 20, where it is worth nothing.
    rising = daily_bars([10, 10, 15, 25, 25], [10, 15, 25, 25, 25])
    cheap = daily_bars([5] * 5, [5] * 5)  # never signals
    backtest = _backtest(Rules(short_entry="close > 9"), Orders())
    portfolio = Portfolio(symbols=["A", "B"], rebalance=Rebalance(every=100, unit="bars"))
    run = run_portfolio([("A", rising), ("B", cheap)], backtest, portfolio, "s")
    assert _equity(run) == [1000, 750, 500, 500, 500]
    (trade,) = run.result.trades  # the next signal finds the share without cash
    assert (trade.exit_reason, trade.exit_price, trade.pnl) == ("liquidation", 20, -500)
    assert trade.exit_time.timestamp() == START + 2 * DAY


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    fill=st.sampled_from(["next_open", "close"]),
    sizing=st.sampled_from(
        [Sizing(), Sizing(kind="fixed_cash", value=300), Sizing(kind="fixed_units", value=3)]
    ),
    fee=st.sampled_from([0.0, 0.5]),
)
def test_a_rebalance_that_never_comes_gives_the_unrebalanced_portfolio(
    seed: int, fill: Any, sizing: Sizing, fee: float
) -> None:
    members = [
        ("A", minute_walk(2_000, seed)),
        ("B", minute_walk(1_500, seed + 1).take(slice(300, None))),
    ]
    both_sides = Rules(
        long_entry="crossover(sma(close, fast), sma(close, slow))",
        short_entry="crossunder(sma(close, fast), sma(close, slow))",
    )
    orders = Orders(fill=fill, sizing=sizing, stop_loss_pct=0.004, take_profit_pct=0.006)
    backtest = _backtest(both_sides, orders, Costs(commission_pct=0.001, fee_per_fill=fee))
    never = run_portfolio(members, backtest, Portfolio(symbols=["A", "B"]), "s")
    later = Portfolio(symbols=["A", "B"], rebalance=Rebalance(every=10_000, unit="bars"))
    shared = run_portfolio(members, backtest, later, "s")
    assert shared.result.final_equity == pytest.approx(never.result.final_equity, rel=1e-9)
    assert shared.result.total_trades == never.result.total_trades
    exits = [(trade.exit_time, trade.exit_reason) for trade in never.result.trades]
    assert [(trade.exit_time, trade.exit_reason) for trade in shared.result.trades] == exits
    assert shared.result.portfolio is not None
    assert never.result.portfolio is not None
    assert np.allclose(
        np.array(shared.result.portfolio.correlation, dtype=float),
        np.array(never.result.portfolio.correlation, dtype=float),
    )


def test_contributions_add_up_to_the_return_and_correlations_are_a_symmetric_matrix() -> None:
    members = [(name, minute_walk(3_000, seed)) for name, seed in (("A", 1), ("B", 2), ("C", 3))]
    portfolio = Portfolio(symbols=["A", "B", "C"], rebalance=Rebalance(every=500, unit="bars"))
    run = run_portfolio(members, _backtest(), portfolio, "s")
    assert run.result.portfolio is not None
    shares = run.result.portfolio.symbols
    assert sum(share.return_contribution for share in shares) == pytest.approx(
        run.result.total_return
    )
    matrix = np.array(run.result.portfolio.correlation, dtype=float)
    assert np.allclose(matrix, matrix.T)
    assert np.allclose(np.diag(matrix), 1)
    assert set(run.trades.columns(0, len(run.trades))["symbol"]) == {"A", "B", "C"}


def test_rebalancing_days_falls_on_the_first_bar_of_each_new_period() -> None:
    time = START + np.arange(0, 6 * DAY, DAY // 2, dtype=np.int64)
    at = rebalance_bars(time, Rebalance(every=2, unit="days"))
    days = (time[at] - START) // DAY
    assert days.tolist() == [d for d in range(1, 6) if (START // DAY + d) % 2 == 0]
    assert rebalance_bars(time, Rebalance(every=3, unit="bars")).nonzero()[0].tolist() == [
        2,
        5,
        8,
    ]


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"symbols": ["A", "A"]}, "each symbol may appear once"),
        ({"symbols": ["A", "B"], "weights": [0.5, 0.5]}, "only with weighting 'fixed'"),
        ({"symbols": ["A", "B"], "weighting": "fixed", "weights": [0.5]}, "one weight per symbol"),
        ({"symbols": ["A", "B"], "weighting": "fixed", "weights": [1.2, -0.2]}, "positive"),
        ({"symbols": ["A", "B"], "weighting": "fixed", "weights": [0.5, 0.6]}, "sum to 1.1, not 1"),
        ({"symbols": [f"S{n}" for n in range(51)]}, "at most 50"),
        (
            {"symbols": ["A", "B"], "rebalance": {"every": 0, "unit": "bars"}},
            "greater than or equal to 1",
        ),
    ],
)
def test_a_portfolio_that_cannot_run_is_refused_in_words(
    fields: dict[str, Any], words: str
) -> None:
    with pytest.raises(ValidationError, match=words):
        Portfolio.model_validate(fields)


def test_stored_trades_keep_their_symbols() -> None:
    run = run_portfolio(
        [("A", _A), ("B", _B)],
        _backtest(FOLLOW_THE_CANDLE, _HALF),
        Portfolio(symbols=["A", "B"]),
        "s",
    )
    chunk = _encoded(run.trades.columns(0, len(run.trades)))
    assert [trade.symbol for trade in _decoded(chunk)] == ["A", "B", "B"]


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.lists(st.integers(0, 200), min_size=1, max_size=60, unique=True).map(sorted),
        min_size=1,
        max_size=5,
    )
)
def test_the_calendar_holds_every_time_of_every_symbol_once_in_order(
    times: list[list[int]],
) -> None:
    calendar = union_calendar([np.array(each, dtype=np.int64) for each in times])
    assert calendar.tolist() == sorted({time for each in times for time in each})
