"""A backtest's trades and an optimization's ranking as CSV, for spreadsheets.

Each file starts with lines beginning "# " that describe the run (`run_description`),
so a file on its own still says what produced it; spreadsheets and pandas skip them
with a comment character of "#". Trades are read from the compute service a page at a
time while the file is sent, so a 100,000-trade export never sits whole in memory."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

from backend.services.backtest_client import BacktestServiceClient
from shared.contracts.results import Trade
from shared.contracts.sweeps import SweepRow
from shared.limits import MAX_TRADES_PAGE

__all__ = ["TRADE_COLUMNS", "ranking_csv", "trades_csv"]

Description = Sequence[tuple[str, str]]

TRADE_COLUMNS = tuple(Trade.model_fields)
_RANKING_STATISTICS = tuple(name for name in SweepRow.model_fields if name != "parameters")


async def trades_csv(
    client: BacktestServiceClient, execution_id: str, described: Description
) -> AsyncIterator[str]:
    """The run's description, the header, then every trade in order, a page of rows per
    chunk."""
    yield _described(described) + _lines([TRADE_COLUMNS])
    offset = 0
    while True:
        page = await client.get_trades(execution_id, offset, MAX_TRADES_PAGE)
        rows = [trade.model_dump(mode="json") for trade in page.trades]
        yield _lines([[row[name] for name in TRADE_COLUMNS] for row in rows])
        offset += len(rows)
        if not rows or offset >= page.total:
            return


def ranking_csv(rows: Sequence[dict[str, Any]], described: Description) -> str:
    """The run's description, then rank, one column per swept parameter and the
    statistics, best first."""
    parameters = list(rows[0]["parameters"]) if rows else []
    header = ["rank", *parameters, *_RANKING_STATISTICS]
    body = [
        [place, *(row["parameters"][name] for name in parameters)]
        + [row.get(name) for name in _RANKING_STATISTICS]
        for place, row in enumerate(rows, start=1)
    ]
    return _described(described) + _lines([header, *body])


def _described(described: Description) -> str:
    return "".join(f"# {name}: {text}\n" for name, text in described)


def _lines(rows: Iterable[Sequence[Any]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()
