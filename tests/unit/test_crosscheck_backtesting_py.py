"""The engine against backtesting.py, an independent implementation, trade by trade on
the real GOOG series: same entries, same exits, same fill prices.

backtesting.py buys whole units where this engine buys fractional ones, so trade sizes
and money amounts differ; times, prices and price ratios must not. One rule differs by
design: a trade still open at the end is closed by backtesting.py at the last bar's
open, here at its close (the position was held through that bar), so the last trade's
exit price is left out when it ended with the data.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import pytest
from backtesting import Backtest, Strategy
from backtesting.lib import crossover
from backtesting.test import GOOG

from backend_services.market_data.table_files import read_sample
from backend_services.services.backtest.backtest_engine import BacktestEngine
from shared.contracts.backtests import ResolvedBacktest
from shared.contracts.strategies import Costs, Orders, Rules
from shared.market_data.bars import Bars

FAST, SLOW = 10, 30
SMA_RULES: dict[str, str | None] = {
    "long_entry": f"crossover(sma(close, {FAST}), sma(close, {SLOW}))",
    "long_exit": f"crossunder(sma(close, {FAST}), sma(close, {SLOW}))",
}


class _Crossover(Strategy):  # type: ignore[misc]
    """The classic SMA crossover of backtesting.py's own tutorial."""

    reverse = False

    def init(self) -> None:
        close = pd.Series(self.data.Close)
        self.fast = self.I(lambda: close.rolling(FAST).mean().to_numpy())
        self.slow = self.I(lambda: close.rolling(SLOW).mean().to_numpy())

    def next(self) -> None:
        if crossover(self.fast, self.slow):
            self.buy()
        elif crossover(self.slow, self.fast):
            if self.reverse:
                self.sell()
            else:
                self.position.close()


def _reference_trades(reverse: bool) -> pd.DataFrame:
    strategy = type("Reference", (_Crossover,), {"reverse": reverse})
    run = Backtest(
        GOOG,
        strategy,
        cash=1_000_000,
        commission=0.001,
        exclusive_orders=True,
        finalize_trades=True,
    ).run()
    trades: pd.DataFrame = run._trades
    return trades


def _our_trades(rules: dict[str, str | None]) -> list[Any]:
    raw = read_sample("GOOG")
    bars = Bars(raw.time, raw.open, raw.high, raw.low, raw.close, raw.volume)
    backtest = ResolvedBacktest(
        symbol="GOOG",
        timeframe="1d",
        start_date=datetime(2000, 1, 1, tzinfo=UTC),
        end_date=datetime(2030, 1, 1, tzinfo=UTC),
        initial_capital=1_000_000,
        parameters={},
        rules=Rules(**rules),
        orders=Orders(),
        costs=Costs(commission_pct=0.001),
    )
    run = BacktestEngine().run(bars, backtest, "crosscheck")
    return run.trades.models(len(run.trades))


def _naive(moment: datetime) -> pd.Timestamp:
    return pd.Timestamp(moment.replace(tzinfo=None))


@pytest.mark.parametrize("reverse", [False, True], ids=["long-only", "long-and-short"])
def test_trades_match_backtesting_py(reverse: bool) -> None:
    rules = dict(SMA_RULES)
    if reverse:
        rules |= {"long_exit": None, "short_entry": SMA_RULES["long_exit"]}
    reference = _reference_trades(reverse)
    ours = _our_trades(rules)

    assert len(ours) == len(reference) > 20
    for trade, (_, expected) in zip(ours, reference.iterrows(), strict=True):
        assert trade.side == ("long" if expected["Size"] > 0 else "short")
        assert _naive(trade.entry_time) == expected["EntryTime"]
        assert _naive(trade.exit_time) == expected["ExitTime"]
        assert trade.entry_price == pytest.approx(expected["EntryPrice"])
        if trade.exit_reason != "end_of_data":
            assert trade.exit_price == pytest.approx(expected["ExitPrice"])
    closed = [t for t in ours if t.exit_reason == "signal"]
    price_ratios = [t.exit_price / t.entry_price for t in closed]
    expected_ratios = (reference["ExitPrice"] / reference["EntryPrice"]).to_numpy()
    np.testing.assert_allclose(price_ratios, expected_ratios[: len(closed)])
