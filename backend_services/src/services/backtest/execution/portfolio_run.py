"""A portfolio's run in a worker: each symbol's whole series loaded as a single
backtest loads it (`series`: the worker's cache, this machine's file, or MongoDB), cut
to the backtest's range, and the engine's portfolio run over them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo.database import Database

from backend_services.market_data.bar_files import BarFiles
from backend_services.services.backtest.backtest_engine import BacktestEngine, BacktestRun, Bars
from backend_services.services.backtest.execution.bars_cache import BarsCache
from backend_services.services.backtest.execution.run_liveness import ProgressRecorder
from backend_services.services.backtest.execution.series import load_series
from shared.contracts.backtests import ResolvedBacktest
from shared.contracts.common import utc_now
from shared.contracts.portfolios import Portfolio


def run_portfolio_backtest(
    database: Database[dict[str, Any]],
    cache: BarsCache,
    files: BarFiles | None,
    backtest: ResolvedBacktest,
    portfolio: Portfolio,
    strategy_id: str,
    progress: ProgressRecorder,
    stages: dict[str, datetime],
) -> BacktestRun:
    """The portfolio's run; the times its bars were loaded and the engine was done go to
    `stages`. Each symbol runs on its current market-data version (named in the
    result's contributions). The range's bars are views of the cached series: ten
    symbols of a million bars hold the series once."""
    start_s, end_s = int(backtest.start_date.timestamp()), int(backtest.end_date.timestamp())
    members: list[tuple[str, Bars]] = []
    versions: list[int] = []
    for count, symbol in enumerate(portfolio.symbols):
        series = load_series(database, cache, symbol, backtest.timeframe, None, files=files)
        members.append((symbol, series.bars.between(start_s, end_s)))
        versions.append(series.version)
        progress.report(2 + 48 * (count + 1) / len(portfolio.symbols))
    stages["bars_loaded"] = utc_now()
    engine = BacktestEngine(lambda fraction: progress.report(50 + 49 * fraction))
    run = engine.portfolio(members, backtest, portfolio, strategy_id, versions)
    stages["engine_done"] = utc_now()
    return run
