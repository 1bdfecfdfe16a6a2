"""BacktestEngine: a hand-checked crossover, and properties that hold for any prices."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from helpers import daily_bars
from hypothesis import given, settings
from hypothesis import strategies as st

from backend_services.services.backtest.backtest_engine import BacktestEngine
from backend_services.services.backtest.engine.indicators import crossover, crossunder, sma
from backend_services.services.backtest.engine.trade_table import TradeTable
from shared.contracts.backtests import ResolvedBacktest
from shared.contracts.results import BacktestResult
from shared.contracts.strategies import Costs, Orders, Rules
from shared.limits import MAX_INLINE_TRADES
from shared.market_data.bars import Bars, MarketDataError

DAY = 86_400


def _bars(opens: Sequence[float] | np.ndarray, closes: Sequence[float] | np.ndarray) -> Bars:
    return daily_bars(opens, closes)


def _backtest(
    fast: int,
    slow: int,
    commission: float = 0.0,
    rules: Rules | None = None,
    orders: Orders | None = None,
    fee: float = 0.0,
) -> ResolvedBacktest:
    return ResolvedBacktest(
        symbol="TEST",
        timeframe="1d",
        start_date=datetime(2000, 1, 1, tzinfo=UTC),
        end_date=datetime(2030, 1, 1, tzinfo=UTC),
        initial_capital=1_000,
        parameters={"fast": fast, "slow": slow},
        rules=rules or Rules(),
        orders=orders or Orders(),
        costs=Costs(commission_pct=commission, fee_per_fill=fee),
    )


# Strategies the properties below are checked on: the default crossover, one with stops,
# one trading both sides, one mixing several indicators.
STRATEGIES = [
    (Rules(), Orders()),
    (Rules(), Orders(stop_loss_pct=0.03, take_profit_pct=0.05, trailing_stop_pct=0.04)),
    (
        Rules(
            short_entry="crossunder(ema(close, fast), ema(close, slow))",
            short_exit="crossover(ema(close, fast), ema(close, slow))",
        ),
        Orders(stop_loss_pct=0.1),
    ),
    (
        Rules(
            long_entry="close > highest(high, slow)[1] or rsi(close, slow) < 30",
            long_exit="close < lowest(low, fast)[1] or macd_hist(close) < 0",
        ),
        Orders(fill="close", trailing_stop_pct=0.05),
    ),
]
LONG_ONLY = [index for index, (rules, _) in enumerate(STRATEGIES) if rules.short_entry is None]


def test_sma_and_crossings_by_hand() -> None:
    close = np.array([10, 10, 10, 13, 13, 7, 7, 7, 7], dtype=float)
    fast, slow = sma(close, 2), sma(close, 3)

    assert fast[1:] == pytest.approx([10, 10, 11.5, 13, 10, 7, 7, 7])
    assert np.isnan(fast[0])
    assert slow[2:] == pytest.approx([10, 11, 12, 11, 9, 7, 7])
    assert np.flatnonzero(crossover(fast, slow)).tolist() == [3]
    assert np.flatnonzero(crossunder(fast, slow)).tolist() == [5]


def test_crossover_strategy_trades_at_the_next_opens() -> None:
    closes = [10, 10, 10, 13, 13, 7, 7, 7, 7]
    opens = [10, 10, 10, 12, 13, 9, 8, 7, 7]

    result = BacktestEngine().run(_bars(opens, closes), _backtest(2, 3), "s1").result

    (trade,) = result.trades
    assert (trade.entry_price, trade.exit_price) == (13, 8)
    assert trade.entry_time == datetime.fromtimestamp(_bars(opens, closes).time[4], tz=UTC)
    assert trade.return_fraction == pytest.approx(8 / 13 - 1)
    assert result.total_return == pytest.approx(8 / 13 - 1)
    assert result.total_trades == 1
    assert result.win_rate == 0
    assert result.buy_and_hold_return == pytest.approx(7 / 10 - 1)
    # Marked to market at the close of bar 5 (7), below the exit fill at the next open.
    assert result.max_drawdown == pytest.approx(7 / 13 - 1)
    assert result.bars == 9
    assert len(result.equity_curve.equity) == 9


def test_progress_is_reported_in_order() -> None:
    reported: list[float] = []
    closes = [10, 10, 10, 13, 13, 7, 7, 7, 7]

    BacktestEngine(on_progress=reported.append).run(_bars(closes, closes), _backtest(2, 3), "s")

    assert reported == sorted(reported)
    assert reported[0] > 0
    assert reported[-1] <= 1


def test_fewer_than_two_bars_is_a_clear_error() -> None:
    with pytest.raises(MarketDataError, match="a backtest needs at least 2"):
        BacktestEngine().run(_bars([10], [10]), _backtest(2, 3), "s")


def test_long_equity_curve_is_downsampled_for_transport() -> None:
    rng = np.random.default_rng(3)
    closes = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 20_000)))
    bars = _bars(closes, closes)

    result = BacktestEngine().run(bars, _backtest(5, 20), "s").result

    curve = result.equity_curve
    assert len(curve.time) == len(curve.equity) <= 2_000
    assert min(curve.drawdown) == pytest.approx(result.max_drawdown)
    assert min(curve.equity) == pytest.approx(min(result.equity_curve.equity))
    assert curve.buy_and_hold[-1] == pytest.approx(1_000 * (1 + result.buy_and_hold_return))
    assert max(curve.buy_and_hold) == pytest.approx(1_000 * closes.max() / closes[0])
    assert curve.time[0] == result.start
    assert curve.time[-1] == result.end
    assert curve.equity[-1] == pytest.approx(result.final_equity)


def test_a_result_carries_the_first_trades_and_the_table_all_of_them() -> None:
    rng = np.random.default_rng(5)
    closes = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 10_000)))

    run = BacktestEngine().run(_bars(closes, closes), _backtest(2, 3), "s")

    count = len(run.trades)
    assert count == run.result.total_trades > MAX_INLINE_TRADES
    assert run.result.trades == run.trades.models() == run.trades.models(count)[:MAX_INLINE_TRADES]
    every = run.trades.models(count)
    columns = run.trades.columns(count - 3, count + 5)
    assert columns["long"].tolist() == [trade.side == "long" for trade in every[-3:]]
    assert columns["exit_time"].tolist() == [int(t.exit_time.timestamp()) for t in every[-3:]]
    assert columns["exit_reason"] == [trade.exit_reason for trade in every[-3:]]
    assert sum(trade.pnl for trade in every) == pytest.approx(
        run.result.final_equity - run.result.initial_capital
    )


def test_a_trade_that_is_not_a_finite_number_is_refused() -> None:
    closes = [10, 10, 10, 13, 13, 7, 7, 7, 7]
    run = BacktestEngine().run(_bars(closes, closes), _backtest(2, 3), "s")
    log = run.trades.log
    broken = TradeTable(replace(log, pnl=np.full(len(log), np.nan)), run.trades.time)

    with pytest.raises(ValueError, match="not a finite number"):
        broken.columns(0, len(broken))


prices = st.lists(st.floats(0.9, 1.1), min_size=30, max_size=200).map(
    lambda steps: 100 * np.cumprod(np.array(steps))
)
periods = st.tuples(st.integers(1, 10), st.integers(2, 25)).filter(lambda p: p[0] < p[1])


def _run(
    bars: Bars, period: tuple[int, int], strategy: int, commission: float = 0.0, fee: float = 0.0
) -> BacktestResult:
    rules, orders = STRATEGIES[strategy]
    backtest = _backtest(*period, commission=commission, rules=rules, orders=orders, fee=fee)
    return BacktestEngine().run(bars, backtest, "s").result


def _wiggly(opens: np.ndarray, closes: np.ndarray, seed: int) -> Bars:
    """Bars whose highs and lows reach past open and close, so stops can trigger."""
    rng = np.random.default_rng(seed)
    bars = _bars(opens, closes)
    return Bars(
        bars.time,
        bars.open,
        bars.high * rng.uniform(1.0, 1.04, len(bars)),
        bars.low * rng.uniform(0.96, 1.0, len(bars)),
        bars.close,
        bars.volume,
    )


@settings(max_examples=80, deadline=None)
@given(
    closes=prices,
    gaps=st.floats(0.95, 1.05),
    period=periods,
    strategy=st.sampled_from(range(len(STRATEGIES))),
    seed=st.integers(0, 1000),
)
def test_zero_cost_round_trips_compound_exactly(
    closes: np.ndarray, gaps: float, period: tuple[int, int], strategy: int, seed: int
) -> None:
    opens = np.concatenate([[closes[0]], closes[:-1] * gaps])
    result = _run(_wiggly(opens, closes, seed), period, strategy)

    assert 1 + result.total_return == pytest.approx(
        np.prod([1 + t.return_fraction for t in result.trades]), rel=1e-9
    )
    for trade in result.trades:
        ratio = trade.exit_price / trade.entry_price
        expected = ratio - 1 if trade.side == "long" else 1 - ratio
        assert trade.return_fraction == pytest.approx(expected, rel=1e-9, abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(
    closes=prices,
    period=periods,
    strategy=st.sampled_from(LONG_ONLY),
    low=st.floats(0, 0.01),
    extra=st.floats(0.0001, 0.01),
    fee=st.floats(0, 1),
    seed=st.integers(0, 1000),
)
def test_higher_costs_never_raise_the_return(
    closes: np.ndarray,
    period: tuple[int, int],
    strategy: int,
    low: float,
    extra: float,
    fee: float,
    seed: int,
) -> None:
    bars = _wiggly(closes, closes, seed)
    cheap = _run(bars, period, strategy, commission=low, fee=fee)
    dear = _run(bars, period, strategy, commission=low + extra, fee=fee * 2)

    assert dear.total_return <= cheap.total_return + 1e-12


@settings(max_examples=80, deadline=None)
@given(
    closes=prices,
    period=periods,
    strategy=st.sampled_from(range(len(STRATEGIES))),
    cut=st.floats(0.2, 0.8),
    seed=st.integers(0, 1000),
)
def test_bars_after_t_never_change_trades_closed_before_t(
    closes: np.ndarray, period: tuple[int, int], strategy: int, cut: float, seed: int
) -> None:
    t = int(len(closes) * cut)
    changed = closes.copy()
    changed[t + 1 :] *= np.random.default_rng(seed).uniform(0.5, 1.5, len(closes) - t - 1)

    before = _run(_wiggly(closes, closes, seed), period, strategy)
    after = _run(_wiggly(changed, changed, seed), period, strategy)

    cutoff = datetime.fromtimestamp(_bars(closes, closes).time[t], tz=UTC)
    closed_before = [trade for trade in before.trades if trade.exit_time <= cutoff]
    assert closed_before == [trade for trade in after.trades if trade.exit_time <= cutoff]


def test_after_warm_up_no_backtest_compiles_anything() -> None:
    # A fresh interpreter: in this one, earlier tests have compiled the loops already.
    script = """
import importlib, pkgutil, sys
import numba
import numpy as np
import backend_services.services.backtest.engine as package
from shared.contracts.portfolios import Portfolio
from shared.contracts.strategies import Costs, Orders, Rules, Sizing
from backend_services.services.backtest.backtest_engine import BacktestEngine, warm_up
sys.path[:0] = [sys.argv[1], sys.argv[1] + "/.."]  # test_engine, and its helpers
from test_engine import _backtest, _bars

modules = [importlib.import_module(f"{package.__name__}.{module.name}")
           for module in pkgutil.iter_modules(package.__path__)]
loops = {f"{module.__name__}.{name}": value for module in modules
         for name, value in vars(module).items()
         if isinstance(value, numba.core.dispatcher.Dispatcher)}
warm_up()
compiled = {name: len(loop.signatures) for name, loop in loops.items()}
closes = 100 + 10 * np.sin(np.arange(300) / 7)
both = Rules(short_entry="close < sma(close, slow)", short_exit="rsi(close, 14) < 40")
for orders in (Orders(fill="close", stop_loss_pct=0.02, trailing_stop_pct=0.03),
               Orders(take_profit_pct=0.05, sizing=Sizing(kind="fixed_units", value=2))):
    backtest = _backtest(3, 8, commission=0.001, rules=both, orders=orders, fee=1.0)
    BacktestEngine().run(_bars(closes * 1.001, closes), backtest, "s")
    for rebalance in ("never", {"every": 9, "unit": "bars"}):  # and a portfolio of them
        members = [("A", _bars(closes * 1.001, closes)), ("B", _bars(closes, closes * 1.002))]
        basket = Portfolio(symbols=["A", "B"], rebalance=rebalance)
        BacktestEngine().portfolio(members, backtest, basket, "s", [1, 1])
print(len(loops), {name: len(loop.signatures) for name, loop in loops.items()} == compiled)
"""
    ran = subprocess.run(
        [sys.executable, "-c", script, str(Path(__file__).parent)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )

    loops, unchanged = ran.stdout.split()
    assert int(loops) >= 7
    assert unchanged == "True"
