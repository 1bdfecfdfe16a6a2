"""A run's trades as columns with their bars' times. A run may make 100,000 trades: the
result carries only the first MAX_INLINE_TRADES as Trade models, and the trade store
writes every one as columns (`columns`), so no trade is built as an object to be stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from backend_services.services.backtest.engine.simulation import TradeLog
from backend_services.services.backtest.engine.trade_extras import TradeExtras
from shared.contracts.results import Trade, trades_from_columns
from shared.limits import MAX_INLINE_TRADES
from shared.market_data.bars import IntArray

_PRICE_FIELDS = ("entry_price", "exit_price", "size", "pnl", "return_fraction")


@dataclass(frozen=True, slots=True)
class TradeTable:
    """`time` holds the open times of the bars `log` indexes; `extras` the columns of
    each trade beyond its fills."""

    log: TradeLog
    time: IntArray
    extras: TradeExtras = field(kw_only=True)

    def __len__(self) -> int:
        return len(self.log)

    def columns(self, start: int, stop: int) -> dict[str, Any]:
        """Trades start..stop-1 as columns named as Trade's fields: `side` as `long`
        (bool), the times as epoch seconds (int64), `exit_reason` as a list; checked
        for finite numbers as the model would check them."""
        log, rows = self.log, slice(start, stop)
        _check_finite(log, rows)
        return {
            "long": log.long[rows],
            "entry_time": self.time[log.entry_bar[rows]],
            "exit_time": self.time[log.exit_bar[rows]],
            **{name: getattr(log, name)[rows] for name in _PRICE_FIELDS},
            "exit_reason": log.exit_reason[rows],
            "bars_held": log.bars_held[rows],
            **self.extras.columns(rows),
        }

    def models(self, stop: int = MAX_INLINE_TRADES) -> list[Trade]:
        """The first `stop` trades as models."""
        return trades_from_columns(self.columns(0, stop))


def _check_finite(log: TradeLog, rows: slice) -> None:
    if not all(np.isfinite(getattr(log, name)[rows]).all() for name in _PRICE_FIELDS):
        raise ValueError("a trade's price, size or pnl is not a finite number")
