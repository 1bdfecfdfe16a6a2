"""A run's trades as columns with their bars' times. A run may make 100,000 trades: the
result carries only the first MAX_INLINE_TRADES as Trade models, and the trade store
writes every one as a document straight from the columns, so no trade is built twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import TypeAdapter

from backend_services.services.backtest.engine.simulation import TradeLog
from shared.contracts.results import Trade
from shared.limits import MAX_INLINE_TRADES
from shared.market_data.bars import IntArray
from shared.timeframes import utc_datetimes

_TRADE_LIST = TypeAdapter(list[Trade])
_FIELDS = tuple(Trade.model_fields)


@dataclass(frozen=True, slots=True)
class TradeTable:
    """`time` holds the open times of the bars `log` indexes."""

    log: TradeLog
    time: IntArray

    def __len__(self) -> int:
        return len(self.log)

    def documents(self, start: int, stop: int) -> list[dict[str, Any]]:
        """Trades start..stop-1 as `Trade.model_dump()` gives them. The columns are
        checked as the model would check them, once for all the rows."""
        return self._rows(start, stop, utc_datetimes)

    def models(self, stop: int = MAX_INLINE_TRADES) -> list[Trade]:
        """The first `stop` trades, validated as one list: pydantic's core checks a list
        of plain dicts several times faster than it builds the models one by one, and
        turns epoch seconds into UTC datetimes five times faster than Python does."""
        return _TRADE_LIST.validate_python(self._rows(0, stop, lambda epochs: epochs))

    def _rows(
        self, start: int, stop: int, times: Callable[[list[int]], list[Any]]
    ) -> list[dict[str, Any]]:
        log, rows = self.log, slice(start, stop)
        prices = (log.entry_price, log.exit_price, log.size, log.pnl, log.return_fraction)
        if not all(np.isfinite(column[rows]).all() for column in prices):
            raise ValueError("a trade's price, size or pnl is not a finite number")
        columns = zip(
            ["long" if long else "short" for long in log.long[rows].tolist()],
            times(self.time[log.entry_bar[rows]].tolist()),
            times(self.time[log.exit_bar[rows]].tolist()),
            *(column[rows].tolist() for column in prices),
            log.exit_reason[rows],
            log.bars_held[rows].tolist(),
            strict=True,
        )
        return [dict(zip(_FIELDS, row, strict=True)) for row in columns]
