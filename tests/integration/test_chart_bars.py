"""Bars for charts: a million bars come back as a few thousand candles that keep every
high and low, in any timeframe the stored bars can make, over any range."""

from __future__ import annotations

import httpx
import numpy as np
import pytest
import talib
from helpers import LONG_SYMBOL_BARS, backtest_params, submit_backtest, wait_for_backtest
from pymongo.database import Database

from backend_services.market_data.store import find_symbol, load_bars
from shared.mongo import Document

pytestmark = pytest.mark.integration


def test_a_million_bars_come_back_as_candles_keeping_every_high_and_low(
    api: httpx.Client, db: Database[Document], long_symbol: str
) -> None:
    stored = load_bars(db, find_symbol(db, long_symbol))

    response = api.get(f"/api/market-data/symbols/{long_symbol}/bars", params={"max_points": 2_000})

    assert response.status_code == 200, response.text
    candles = response.json()
    assert candles["bars"] == LONG_SYMBOL_BARS
    assert candles["bars_per_candle"] == 1_000
    assert len(candles["time"]) == 2_000
    high, low = np.array(candles["high"]), np.array(candles["low"])
    assert high.max() == stored.high.max()
    assert low.min() == stored.low.min()
    # Each candle is its run of bars: first open, highest high, lowest low, last close.
    for k in (0, 777, 1_999):
        run = slice(k * 1_000, (k + 1) * 1_000)
        assert candles["open"][k] == stored.open[run][0]
        assert candles["high"][k] == stored.high[run].max()
        assert candles["low"][k] == stored.low[run].min()
        assert candles["close"][k] == stored.close[run][-1]


def test_a_range_in_another_timeframe(api: httpx.Client) -> None:
    response = api.get(
        "/api/market-data/symbols/GOOG/bars",
        params={"timeframe": "1w", "start": "2010-01-01T00:00:00Z", "end": "2010-12-31T00:00:00Z"},
    )

    candles = response.json()
    assert response.status_code == 200, response.text
    assert (candles["timeframe"], candles["bars_per_candle"]) == ("1w", 1)
    assert 50 <= candles["bars"] == len(candles["time"]) <= 53
    assert candles["time"][0] >= "2010-01-01"
    assert candles["time"][-1] <= "2010-12-31"


@pytest.mark.parametrize(
    ("symbol", "params", "status", "message"),
    [
        ("NOPE", {}, 404, "no market data for NOPE"),
        ("GOOG", {"timeframe": "1h"}, 422, "GOOG is stored as 1d bars"),
        ("GOOG", {"max_points": 5}, 422, "max_points"),
    ],
)
def test_what_cannot_be_drawn_is_refused(
    api: httpx.Client, symbol: str, params: dict[str, str | int], status: int, message: str
) -> None:
    response = api.get(f"/api/market-data/symbols/{symbol}/bars", params=params)

    assert response.status_code == status
    assert message in response.text


def test_a_backtests_candles_carry_the_lines_its_rules_use_warm_from_before_the_range(
    api: httpx.Client, db: Database[Document]
) -> None:
    rules = {
        "long_entry": "crossover(sma(close, fast), sma(close, slow)) and rsi(close, 14) < 70",
        "long_exit": "crossunder(sma(close, fast), sma(close, slow))",
    }
    backtest_id = submit_backtest(api, backtest_params(), rules=rules)
    result = wait_for_backtest(api, backtest_id)["result"]
    stored = load_bars(db, find_symbol(db, "GOOG"))

    response = api.get(
        f"/api/backtest/{backtest_id}/candles",
        params={"start": "2010-01-01T00:00:00Z", "end": "2010-12-31T00:00:00Z", "max_points": 50},
    )

    assert response.status_code == 200, response.text
    candles = response.json()
    assert (candles["symbol"], candles["timeframe"]) == (result["symbol"], "1d")
    lines = {line["name"]: line for line in candles["lines"]}
    assert list(lines) == ["sma(close, 10)", "sma(close, 30)", "rsi(close, 14)"]
    assert [line["on_price_scale"] for line in lines.values()] == [True, True, False]
    # Each value is the indicator at the candle's last bar, computed over every bar
    # before the range too (warm from its first candle on).
    per_candle = candles["bars_per_candle"]
    first = int(np.searchsorted(stored.time, stored.time[stored.time >= 1262304000][0]))
    ends = [min(first + (k + 1) * per_candle, first + candles["bars"]) - 1 for k in range(50)]
    expected = {
        "sma(close, 10)": talib.SMA(stored.close, 10),
        "sma(close, 30)": talib.SMA(stored.close, 30),
        "rsi(close, 14)": talib.RSI(stored.close, 14),
    }
    for name, values in expected.items():
        assert len(lines[name]["values"]) == len(candles["time"])
        assert lines[name]["values"] == pytest.approx(values[ends[: len(candles["time"])]].tolist())


def test_a_line_that_is_no_series_is_refused_in_words(api: httpx.Client) -> None:
    response = api.get(
        "/api/market-data/symbols/GOOG/bars", params={"line": ["close > open", "sma(close, 5)"]}
    )

    assert response.status_code == 422
    assert "a line must be a series, this is a condition" in response.text
