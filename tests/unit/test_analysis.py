"""The analysis beside a run's statistics, checked by hand on small cases."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pytest

from backend_services.services.backtest.backtest_engine import BacktestEngine
from backend_services.services.backtest.engine.analysis import (
    period_returns,
    rolling_sharpe,
    worst_drawdowns,
)
from backend_services.services.backtest.engine.drawdowns import Drawdowns
from backend_services.services.backtest.engine.simulation import SimulatedTrade, TradeLog
from backend_services.services.backtest.engine.trade_extras import TradeExtras
from shared.contracts.backtests import ResolvedBacktest
from shared.contracts.strategies import Costs, Orders, Rules
from shared.market_data.bars import Bars

DAY = 86_400


def _epoch(year: int, month: int, day: int) -> int:
    return int(datetime(year, month, day, tzinfo=UTC).timestamp())


def test_monthly_returns_chain_month_ends_and_years_compound_them() -> None:
    time = np.array(
        [
            _epoch(2023, 11, 20),
            _epoch(2023, 11, 30),
            _epoch(2023, 12, 15),
            _epoch(2024, 1, 10),
            _epoch(2024, 1, 31),
            _epoch(2024, 3, 1),  # February has no bar: no row for it
        ],
        dtype=np.int64,
    )
    equity = np.array([90.0, 110.0, 99.0, 120.0, 132.0, 66.0])

    monthly, yearly = period_returns(time, equity, 100.0)

    assert [(row.year, row.month) for row in monthly] == [
        (2023, 11),
        (2023, 12),
        (2024, 1),
        (2024, 3),
    ]
    assert [row.return_fraction for row in monthly] == pytest.approx(
        [110 / 100 - 1, 99 / 110 - 1, 132 / 99 - 1, 66 / 132 - 1]
    )
    assert [row.year for row in yearly] == [2023, 2024]
    assert [row.return_fraction for row in yearly] == pytest.approx([99 / 100 - 1, 66 / 99 - 1])


def test_months_after_the_equity_is_gone_have_no_return() -> None:
    time = np.array([_epoch(2024, 1, 5), _epoch(2024, 2, 5), _epoch(2024, 3, 5)], dtype=np.int64)
    monthly, yearly = period_returns(time, np.array([50.0, 0.0, 0.0]), 100.0)
    assert [row.return_fraction for row in monthly] == [-0.5, -1.0, None]
    assert [row.return_fraction for row in yearly] == [-1.0]


def test_worst_drawdowns_give_start_trough_recovery_depth_and_length() -> None:
    equity = np.array([100.0, 110, 99, 88, 110, 120, 108, 120, 90, 100])
    time = np.arange(len(equity), dtype=np.int64) * DAY

    periods = worst_drawdowns(time, Drawdowns.of(equity))

    def day(index: int) -> datetime:
        return datetime.fromtimestamp(index * DAY, UTC)

    assert [
        (p.start, p.trough, p.recovery, round(p.depth, 12), p.length_bars) for p in periods
    ] == [
        (day(7), day(8), None, round(90 / 120 - 1, 12), 2),  # still below at the end
        (day(1), day(3), day(4), round(88 / 110 - 1, 12), 2),
        (day(5), day(6), day(7), round(108 / 120 - 1, 12), 1),
    ]


def test_only_the_five_deepest_drawdowns_are_kept() -> None:
    # Six dips of 1 % .. 6 % below a peak of 100, each recovered.
    equity = np.array([100.0] + [value for k in range(1, 7) for value in (100 - k, 100)])
    time = np.arange(len(equity), dtype=np.int64) * DAY
    depths = [period.depth for period in worst_drawdowns(time, Drawdowns.of(equity))]
    assert depths == pytest.approx([-0.06, -0.05, -0.04, -0.03, -0.02])


def _bars(high: list[float], low: list[float]) -> Bars:
    n = len(high)
    middle = (np.array(high) + np.array(low)) / 2
    return Bars(
        time=np.arange(n, dtype=np.int64) * DAY,
        open=middle,
        high=np.array(high),
        low=np.array(low),
        close=middle,
        volume=np.ones(n),
    )


def _trade(**fields: object) -> SimulatedTrade:
    values: dict[str, object] = {
        "side": "long",
        "entry_price": 100.0,
        "exit_price": 100.0,
        "size": 2.0,
        "pnl": 0.0,
        "return_fraction": 0.0,
        "exit_reason": "signal",
    }
    return SimulatedTrade(**(values | fields))  # type: ignore[arg-type]


def test_run_up_and_drawdown_over_the_bars_a_trade_was_open() -> None:
    #          0    1    2    3    4    5    6    7
    high = [500, 105, 112, 103, 150, 101, 104, 130]
    low = [1.0, 97, 99, 90, 50, 99, 95, 70]
    bars = _bars([float(v) for v in high], low)
    log = TradeLog.of(
        [
            # Long from bar 1's open to bar 4's open: bars 1-3 held; bar 4 only opened.
            _trade(entry_bar=1, exit_bar=4, exit_price=101.0, bars_held=3),
            # Short stopped within bar 7 at 108: of that bar only the stop price counts.
            _trade(
                side="short",
                entry_bar=5,
                exit_bar=7,
                entry_price=100.0,
                exit_price=108.0,
                exit_reason="stop_loss",
                bars_held=3,
            ),
        ]
    )
    extras = TradeExtras.of(bars, log, Costs(commission_pct=0.001, fee_per_fill=1), False)

    assert extras.run_up.tolist() == pytest.approx([0.12, 0.05])  # 112 / 100; 1 - 95 / 100
    assert extras.drawdown.tolist() == pytest.approx([-0.10, -0.08])  # 90 / 100; 1 - 108 / 100
    assert extras.duration_seconds.tolist() == [3 * DAY, 2 * DAY]
    assert extras.notional.tolist() == pytest.approx([200.0, 200.0])
    # 0.1 % of entry and exit value, and a fee of 1 on each fill.
    assert extras.commission.tolist() == pytest.approx([2 * 201 * 0.001 + 2, 2 * 208 * 0.001 + 2])


def test_a_trade_closed_at_the_close_saw_its_whole_exit_bar() -> None:
    bars = _bars([101.0, 120, 102], [99.0, 80, 98])
    # Filled at bar 0's close; held through bar 1 and closed at its close.
    log = TradeLog.of([_trade(entry_bar=0, exit_bar=1, bars_held=1)])
    extras = TradeExtras.of(bars, log, Costs(), True)
    assert (extras.run_up[0], extras.drawdown[0]) == pytest.approx((0.2, -0.2))


def test_rolling_sharpe_over_a_window_of_bars() -> None:
    rng = np.random.default_rng(7)
    returns = np.concatenate([rng.normal(0.001, 0.01, 30), np.zeros(10)])
    equity = 1_000 * np.cumprod(np.concatenate([[1.0], 1 + returns]))
    time = np.arange(len(equity), dtype=np.int64) * DAY

    rolling = rolling_sharpe(time, equity, periods_per_year=40)  # a window of 10 bars

    assert rolling.window_bars == 10
    assert len(rolling.sharpe) == len(returns) - 9
    first = returns[:10]
    assert rolling.sharpe[0] == pytest.approx(first.mean() / first.std(ddof=1) * math.sqrt(40))
    assert rolling.time[0] == datetime.fromtimestamp(10 * DAY, UTC)
    last_risky = returns[20:30]
    assert rolling.sharpe[20] == pytest.approx(
        last_risky.mean() / last_risky.std(ddof=1) * math.sqrt(40)
    )
    assert rolling.sharpe[-1] is None  # ten flat bars have no variance


def test_a_run_carries_its_analysis_and_the_sides_add_up_to_all() -> None:
    rng = np.random.default_rng(3)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, 800)))
    opens = np.append(close[0], close[:-1])
    bars = Bars(
        time=_epoch(2020, 1, 1) + np.arange(800, dtype=np.int64) * DAY,
        open=opens,
        high=np.maximum(opens, close) * 1.01,
        low=np.minimum(opens, close) * 0.99,
        close=close,
        volume=np.ones(800),
    )
    crossings = ("crossunder", "crossover")
    rules = {
        f"short_{kind}": f"{crossing}(sma(close, fast), sma(close, slow))"
        for kind, crossing in zip(("entry", "exit"), crossings, strict=True)
    }
    backtest = ResolvedBacktest.model_validate(
        {
            "symbol": "TEST",
            "timeframe": "1d",
            "start_date": "2000-01-01T00:00:00Z",
            "end_date": "2030-01-01T00:00:00Z",
            "initial_capital": 1_000,
            "parameters": {"fast": 5, "slow": 20},
            "rules": Rules(**rules),
            "orders": Orders(),
            "costs": Costs(commission_pct=0.001, fee_per_fill=0.5),
        }
    )
    result = BacktestEngine().run(bars, backtest, "s1").result
    analysis = result.analysis
    assert analysis is not None

    sides = analysis.sides
    assert sides.long.trades > 0
    assert sides.short.trades > 0
    assert sides.long.trades + sides.short.trades == sides.all.trades == result.total_trades
    assert sides.long.total_pnl + sides.short.total_pnl == pytest.approx(sides.all.total_pnl)
    assert sides.long.commission + sides.short.commission == pytest.approx(sides.all.commission)
    assert sides.all.total_pnl == pytest.approx(result.final_equity - result.initial_capital)
    assert sides.all.win_rate == pytest.approx(result.win_rate)
    assert sides.all.profit_factor == pytest.approx(result.profit_factor)

    compounded = np.prod(
        [1 + m.return_fraction for m in analysis.monthly_returns if m.return_fraction is not None]
    )
    assert compounded - 1 == pytest.approx(result.total_return)
    assert len(analysis.monthly_returns) == 27  # 2020-01 .. 2022-03
    assert analysis.worst_drawdowns[0].depth == pytest.approx(result.max_drawdown)

    trade = result.trades[0]
    assert trade.duration_seconds == int((trade.exit_time - trade.entry_time).total_seconds())
    assert trade.notional == pytest.approx(trade.size * trade.entry_price)
    assert trade.run_up is not None
    assert trade.run_up >= 0
    assert trade.drawdown is not None
    assert trade.drawdown <= 0
    assert sum(t.commission or 0 for t in result.trades) == pytest.approx(sides.all.commission)
