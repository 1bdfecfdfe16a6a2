"""An account cannot go below zero: a position whose loss would take the equity to zero
is closed where it does (at the open when a bar gaps past it), and nothing more is
opened."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend_services.services.backtest.backtest_engine import BacktestEngine
from backend_services.services.backtest.engine.simulation import Simulation, simulate
from backend_services.services.backtest.engine.trade_search import Signals
from shared.contracts.backtests import ResolvedBacktest
from shared.contracts.strategies import Costs, Orders, Rules, Sizing
from shared.market_data.bars import Bars

DAY = 86_400
CAPITAL = 10_000.0


def _bars(
    opens: Sequence[float], closes: Sequence[float], highs: Sequence[float], lows: Sequence[float]
) -> Bars:
    return Bars(
        time=DAY * np.arange(len(opens), dtype=np.int64),
        open=np.array(opens, dtype=float),
        high=np.array(highs, dtype=float),
        low=np.array(lows, dtype=float),
        close=np.array(closes, dtype=float),
        volume=np.ones(len(opens)),
    )


def _signals(long_entry: list[int] | None = None, short_entry: list[int] | None = None) -> Signals:
    never = np.empty(0, dtype=np.int64)
    return Signals(
        long_entry=np.array(long_entry or [], dtype=np.int64),
        long_exit=never,
        short_entry=np.array(short_entry or [], dtype=np.int64),
        short_exit=never,
    )


def _ruin_of_all_in_short(entry: float, commission: float) -> float:
    """The price at which buying back an all-in short leaves nothing."""
    units = CAPITAL / (entry * (1 + commission))
    cash = CAPITAL + units * entry - units * entry * commission
    return cash / (units * (1 + commission))


def test_the_short_squeeze_of_the_report_ends_at_zero_not_below() -> None:
    closes = [100.0, 100.0, 250.0, 300.0, 90.0, 90.0]
    bars = _bars(closes, closes, closes, closes)
    backtest = ResolvedBacktest(
        symbol="SQUEEZE",
        timeframe="1d",
        start_date=datetime(1970, 1, 1, tzinfo=UTC),
        end_date=datetime(1971, 1, 1, tzinfo=UTC),
        initial_capital=CAPITAL,
        parameters={},
        rules=Rules(long_entry=None, long_exit=None, short_entry="close < 101"),
        orders=Orders(),
        costs=Costs(),
    )

    run = BacktestEngine().run(bars, backtest, "s")

    result = run.result
    assert result.final_equity == 0
    assert result.total_return == -1
    assert result.max_drawdown == -1
    assert [trade.exit_reason for trade in result.trades] == ["liquidation"]
    assert result.trades[0].exit_price == 250  # the bar gapped past the ruin price
    assert result.trades[0].pnl == -CAPITAL
    assert min(result.equity_curve.equity) == 0  # and it opened nothing at 90 after


def test_a_short_is_liquidated_at_its_ruin_price_inside_a_bar() -> None:
    commission = 0.001
    bars = _bars(
        [100, 100, 150, 160], [100, 100, 160, 170], [100, 100, 250, 170], [100, 100, 150, 160]
    )

    sim = simulate(
        bars, _signals(short_entry=[0]), CAPITAL, Orders(), Costs(commission_pct=commission)
    )

    (trade,) = sim.trades
    assert (trade.exit_reason, trade.exit_bar) == ("liquidation", 2)
    assert trade.exit_price == pytest.approx(_ruin_of_all_in_short(100, commission), rel=1e-12)
    assert sim.equity[2:].tolist() == [0.0, 0.0]
    assert trade.pnl == -CAPITAL


def test_a_long_with_fees_is_liquidated_when_a_crash_would_cost_more_than_it_has() -> None:
    fee, commission = 500.0, 0.001
    bars = _bars(
        [100, 100, 50, 10, 3], [100, 60, 20, 5, 3], [100, 100, 50, 10, 3], [100, 60, 20, 4, 2]
    )

    sim = simulate(
        bars,
        _signals(long_entry=[0]),
        CAPITAL,
        Orders(),
        Costs(commission_pct=commission, fee_per_fill=fee),
    )

    (trade,) = sim.trades
    units = (CAPITAL - fee) / (100 * (1 + commission))
    cash_in_trade = CAPITAL - units * 100 - (units * 100 * commission + fee)
    ruin = (fee - cash_in_trade) / (units * (1 - commission))
    assert (trade.exit_reason, trade.exit_bar) == ("liquidation", 3)
    assert trade.exit_price == pytest.approx(ruin, rel=1e-12)
    assert sim.equity[-1] == 0


def test_a_long_without_leverage_or_fees_rides_a_crash_to_its_exit() -> None:
    bars = _bars([100, 100, 1, 1], [100, 1, 1, 1], [100, 100, 1, 1], [100, 0.5, 0.5, 0.5])

    sim = simulate(bars, _signals(long_entry=[0]), CAPITAL, Orders(), Costs(commission_pct=0.001))

    assert [trade.exit_reason for trade in sim.trades] == ["end_of_data"]
    assert sim.equity.min() > 0


def test_a_stop_reached_on_the_way_to_ruin_fires_first() -> None:
    bars = _bars(
        [100, 100, 140, 150], [100, 100, 150, 150], [100, 100, 250, 150], [100, 100, 140, 150]
    )

    sim = simulate(
        bars, _signals(short_entry=[0]), CAPITAL, Orders(stop_loss_pct=0.5), Costs(commission_pct=0)
    )

    (trade,) = sim.trades
    assert (trade.exit_reason, trade.exit_bar, trade.exit_price) == ("stop_loss", 2, 150)
    assert sim.equity[-1] == pytest.approx(CAPITAL / 2)


def test_a_gap_past_both_the_stop_and_the_ruin_price_liquidates_at_the_open() -> None:
    bars = _bars(
        [100, 100, 260, 270], [100, 100, 270, 270], [100, 100, 280, 270], [100, 100, 255, 270]
    )

    sim = simulate(
        bars, _signals(short_entry=[0]), CAPITAL, Orders(stop_loss_pct=0.5), Costs(commission_pct=0)
    )

    (trade,) = sim.trades
    assert (trade.exit_reason, trade.exit_bar, trade.exit_price) == ("liquidation", 2, 260)
    assert trade.pnl == -CAPITAL
    assert sim.equity[2:].tolist() == [0.0, 0.0]


def test_a_broke_account_opens_nothing_more() -> None:
    closes = [100, 100, 300, 90, 90, 80, 70]
    bars = _bars(closes, closes, closes, closes)

    sim = simulate(
        bars, _signals(short_entry=[0, 3, 4], long_entry=[5]), CAPITAL, Orders(), Costs()
    )

    assert [trade.exit_reason for trade in sim.trades] == ["liquidation"]
    assert sim.equity[2:].tolist() == [0.0] * 5


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(min_value=0, max_value=2**32 - 1),
    volatility=st.sampled_from([0.05, 0.3, 0.8]),
    sizing=st.sampled_from(
        [
            Sizing(kind="fraction_of_equity", value=1.0),
            Sizing(kind="fixed_cash", value=CAPITAL),
            Sizing(kind="fixed_units", value=90.0),
        ]
    ),
    fee=st.sampled_from([0.0, 25.0]),
    stop=st.sampled_from([None, 0.3, 0.9]),
)
def test_equity_never_goes_below_zero(
    seed: int, volatility: float, sizing: Sizing, fee: float, stop: float | None
) -> None:
    rng = np.random.default_rng(seed)
    count = 120
    close = 100 * np.exp(np.cumsum(rng.normal(0, volatility, count)))
    open_ = close * np.exp(rng.normal(0, volatility / 2, count))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, volatility / 2, count)))
    low = np.minimum(open_, close) / np.exp(np.abs(rng.normal(0, volatility / 2, count)))
    bars = Bars(DAY * np.arange(count, dtype=np.int64), open_, high, low, close, np.ones(count))
    fires = np.flatnonzero(rng.random(count) < 0.2)
    side = rng.random(fires.size) < 0.5

    sim: Simulation = simulate(
        bars,
        _signals(long_entry=fires[side].tolist(), short_entry=fires[~side].tolist()),
        CAPITAL,
        Orders(sizing=sizing, stop_loss_pct=stop),
        Costs(commission_pct=0.001, fee_per_fill=fee, slippage_pct=0.001),
    )

    assert sim.equity.min() >= 0
    # The same money, summed in another order: equal to the float rounding of the sums.
    assert CAPITAL + sim.trades.pnl.sum() == pytest.approx(sim.equity[-1], rel=1e-9, abs=1e-6)
    liquidations = [i for i, trade in enumerate(sim.trades) if trade.exit_reason == "liquidation"]
    assert liquidations in ([], [len(sim.trades) - 1])
