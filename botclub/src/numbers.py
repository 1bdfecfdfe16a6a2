"""Numbers as the member commands show them: the kinds and rules of
shared/src/formatting.py (the report's and the page's), which these commands may not
import, since they speak to the API only. tests/unit/test_formatting.py holds the two
to one table of cases, and this table of kinds to that one."""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal

__all__ = ["KIND_OF", "shown", "shown_statistic"]

# The statistics the commands print, by kind.
KIND_OF = {
    "total_return": "percent",
    "buy_and_hold_return": "percent",
    "cagr": "percent",
    "volatility": "percent",
    "max_drawdown": "percent",
    "exposure": "percent",
    "win_rate": "percent",
    "sharpe_ratio": "ratio",
    "sortino_ratio": "ratio",
    "calmar_ratio": "ratio",
    "profit_factor": "ratio",
    "total_trades": "count",
    "final_equity": "money",
    "initial_capital": "money",
    "pnl": "money",
    "return_contribution": "percent",
    "weight": "percent",
    "entry_price": "price",
    "exit_price": "price",
}
_PLACES = {"money": 2, "percent": 2, "ratio": 2, "count": 0, "duration": 1, "price": 2}
_SUFFIX = {"percent": " %", "duration": " days"}


def shown(kind: str, value: float | None) -> str:
    """Half away from zero on the exact value, thousands separated, never "-0"."""
    if value is None or not math.isfinite(value):
        return "n/a"
    places = 4 if kind == "price" and 0 < abs(value) < 1 else _PLACES[kind]
    exact = Decimal(value * 100 if kind == "percent" else value)
    rounded = exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    return f"{abs(rounded) if rounded == 0 else rounded:,.{places}f}{_SUFFIX.get(kind, '')}"


def shown_statistic(name: str, value: float | None) -> str:
    return shown(KIND_OF.get(name, "ratio"), value)
