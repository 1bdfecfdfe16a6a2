"""report.html's part for a portfolio: each symbol's contribution to the account's
return, and the correlation of the symbols' shares' returns."""

from __future__ import annotations

from html import escape

from shared.contracts.portfolios import PortfolioResult
from shared.formatting import shown, shown_statistic

__all__ = ["portfolio_html"]


def portfolio_html(portfolio: PortfolioResult) -> str:
    names = [share.symbol for share in portfolio.symbols]
    contributions = "".join(
        f"<tr><td>{escape(share.symbol)}</td><td>{shown('percent', share.weight)}</td>"
        f"<td>{share.bars:,}</td><td>{share.trades:,}</td>"
        f"<td>{shown_statistic('pnl', share.pnl)}</td>"
        f"<td>{shown('percent', share.return_contribution)}</td></tr>"
        for share in portfolio.symbols
    )
    correlations = "".join(
        f"<tr><td>{escape(name)}</td>"
        + "".join(f"<td>{shown('ratio', value)}</td>" for value in row)
        + "</tr>"
        for name, row in zip(names, portfolio.correlation, strict=True)
    )
    header = "".join(f"<th>{escape(name)}</th>" for name in names)
    return "\n".join(
        [
            f"<h2>Portfolio of {len(names)}, rebalanced {portfolio.rebalances:,} times</h2>",
            '<table id="contributions"><tr><th>Symbol</th><th>Weight</th><th>Bars</th>'
            f"<th>Trades</th><th>P&amp;L</th><th>Contribution</th></tr>{contributions}</table>",
            "<h2>Correlation of the symbols' returns</h2>",
            f'<table id="correlation"><tr><th></th>{header}</tr>{correlations}</table>',
        ]
    )
