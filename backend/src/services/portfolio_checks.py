"""Whether the stored market data can serve a portfolio: every symbol, as a single
backtest of it is checked, before anything is stored."""

from __future__ import annotations

from dataclasses import dataclass

from pymongo.asynchronous.database import AsyncDatabase

from backend.services.market_checks import check_data_for, range_note
from shared.contracts.backtests import BacktestParams, ResolvedBacktest
from shared.contracts.portfolios import portfolio_input_key
from shared.contracts.sweeps import Sweep
from shared.errors import InvalidInput
from shared.mongo import Document

__all__ = ["CheckedPortfolio", "check_portfolio"]


@dataclass(frozen=True, slots=True)
class CheckedPortfolio:
    input_key: str
    data_version: int  # the first symbol's; the result names every symbol's
    notes: list[str]


async def check_portfolio(
    database: AsyncDatabase[Document],
    params: BacktestParams,
    backtest: ResolvedBacktest,
    sweep: Sweep | None,
) -> CheckedPortfolio:
    """InvalidInput, in words, when the portfolio cannot run: asked with a sweep or a
    `symbol` of its own, or a symbol whose stored bars cannot serve the strategy's
    timeframe, the range, or the rules' longest lookback."""
    portfolio = params.portfolio
    if portfolio is None:
        raise ValueError("not a portfolio backtest")
    if sweep is not None:
        raise InvalidInput.at("portfolio", "a portfolio runs one backtest: it cannot be swept")
    if params.symbol is not None:
        raise InvalidInput.at(
            "symbol", "a portfolio's symbols are given in portfolio.symbols, not in symbol"
        )
    versions: dict[str, int] = {}
    notes: list[str] = []
    for place, symbol in enumerate(portfolio.symbols):
        member = backtest.model_copy(update={"symbol": symbol})
        try:
            entry = await check_data_for(database, member)
        except InvalidInput as refused:
            problems = "; ".join(str(problem["msg"]) for problem in refused.detail)
            raise InvalidInput.at(
                f"portfolio.symbols.{place}", f"{symbol}: {problems}", "no_market_data"
            ) from None
        versions[symbol] = entry.version
        if note := range_note(member, entry):
            notes.append(note)
    return CheckedPortfolio(
        input_key=portfolio_input_key(backtest.input_key(0), portfolio, versions),
        data_version=versions[portfolio.symbols[0]],
        notes=notes,
    )
