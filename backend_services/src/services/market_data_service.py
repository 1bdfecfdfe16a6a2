"""MarketDataService: imports and deletions of symbols, the only writes to the catalog
and the bars besides the bundled samples' loading."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pymongo.asynchronous.database import AsyncDatabase

from backend_services.market_data.bar_files import BarFiles
from backend_services.market_data.import_runner import ImportRunner
from backend_services.market_data.symbols import delete_symbol
from backend_services.services.backtest.execution.bars_cache import BarsCache
from backend_services.services.chart_bars import chart_bars
from shared.contracts.market_data import Candles, ImportOptions, ImportOutcome, TableFormat
from shared.errors import Conflict, Forbidden, InvalidInput, NotFound
from shared.market_data.catalog import find_symbol
from shared.mongo import Document
from shared.timeframes import Timeframe

__all__ = ["MarketDataService"]


class MarketDataService:
    def __init__(
        self,
        runner: ImportRunner,
        database: AsyncDatabase[Document],
        chart_cache: BarsCache,
        files: BarFiles | None = None,
    ) -> None:
        self._runner = runner
        self._database = database
        self._chart_cache = chart_cache
        self._files = files

    async def import_file(
        self, content: bytes, table_format: TableFormat, options: ImportOptions
    ) -> ImportOutcome:
        """Parse, check and store a file as `options.symbol` (see ImportRunner)."""
        if not content:
            raise InvalidInput("the body holds no file")
        return await self._runner.run(content, table_format, options)

    async def candles(
        self,
        symbol: str,
        timeframe: Timeframe | None,
        start: datetime | None,
        end: datetime | None,
        most: int,
        lines: Sequence[str] = (),
    ) -> Candles:
        """The symbol's bars for a chart, with indicator lines (see `chart_bars`)."""
        return await chart_bars(
            self._database, self._chart_cache, symbol, timeframe, start, end, most, lines
        )

    async def delete(self, symbol: str, owner_id: str) -> None:
        """Delete a symbol and its bars; only the user who imported it may."""
        entry = await find_symbol(self._database, symbol)
        if entry is None:
            raise NotFound(f"no market data for {symbol}")
        if entry.owner_id != owner_id:
            raise Forbidden(f"{symbol} belongs to {entry.owner_in_words()}")
        if not await delete_symbol(self._database, entry):
            raise Conflict(f"{symbol} changed meanwhile; try again")
        if self._files is not None:
            self._files.forget(symbol)
