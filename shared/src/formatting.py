"""How every number is shown, in the report, the CSV headers and the CLI alike; the
dashboard's backend/src/dashboard/format.js is the same in JavaScript (a browser test
holds the two to one table of cases).

Each statistic has one kind (`KINDS`): money with two decimals and thousands
separators, a fraction shown as a percentage, a ratio to two places, a count, a
duration in days, or a price. Rounding is half away from zero on the exact value (as
JavaScript's toFixed), and a value that rounds to zero never shows a minus sign.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

__all__ = ["KINDS", "Kind", "shown", "shown_statistic"]

Kind = Literal["money", "percent", "ratio", "count", "duration", "price"]

KINDS: dict[str, Kind] = {
    "duration_days": "duration",
    "final_equity": "money",
    "equity_peak": "money",
    "initial_capital": "money",
    "expectancy": "money",
    "pnl": "money",
    "total_return": "percent",
    "buy_and_hold_return": "percent",
    "cagr": "percent",
    "volatility": "percent",
    "max_drawdown": "percent",
    "average_drawdown": "percent",
    "exposure": "percent",
    "win_rate": "percent",
    "best_trade": "percent",
    "worst_trade": "percent",
    "average_trade": "percent",
    "kelly_criterion": "percent",
    "alpha": "percent",
    "return_fraction": "percent",
    "return_contribution": "percent",
    "weight": "percent",
    "sharpe_ratio": "ratio",
    "sortino_ratio": "ratio",
    "calmar_ratio": "ratio",
    "profit_factor": "ratio",
    "sqn": "ratio",
    "beta": "ratio",
    "objective": "ratio",
    "total_trades": "count",
    "bars": "count",
    "max_drawdown_duration_bars": "count",
    "average_drawdown_duration_bars": "count",
    "max_trade_duration_bars": "count",
    "average_trade_duration_bars": "count",
    "trading_days_per_year": "count",
    "periods_per_year": "count",
    "entry_price": "price",
    "exit_price": "price",
}

_DECIMALS: dict[Kind, int] = {
    "money": 2,
    "percent": 2,
    "ratio": 2,
    "count": 0,
    "duration": 1,
    "price": 2,
}


def _fixed(value: float, decimals: int) -> str:
    """`value` rounded to `decimals` places, with thousands separators, never "-0"."""
    rounded = Decimal(value).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)
    if rounded == 0:
        rounded = abs(rounded)
    return f"{rounded:,.{decimals}f}"


def shown(kind: Kind, value: float | None) -> str:
    """`value` as a `kind` is shown; "n/a" for none (or no finite number)."""
    if value is None or not math.isfinite(value):
        return "n/a"
    if kind == "percent":
        return f"{_fixed(value * 100, 2)} %"
    if kind == "duration":
        return f"{_fixed(value, 1)} days"
    if kind == "price" and 0 < abs(value) < 1:
        return _fixed(value, 4)  # a penny stock's price keeps its digits
    return _fixed(value, _DECIMALS[kind])


def shown_statistic(name: str, value: float | None) -> str:
    """A statistic (or a trade's field) by its name's kind; an unknown name as a ratio."""
    return shown(KINDS.get(name, "ratio"), value)
