"""A completed backtest as one self-contained HTML file: its charts (drawn here as
inline SVG, so the file needs no script, font or network to open), its statistics and
its trades. Small enough to mail to the club."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape

from backend.outputs.analysis_report import TRADE_EXTRA_HEADERS, analysis_html, trade_extra_cells
from backend.outputs.optimization_report import optimization_html
from backend.outputs.portfolio_report import portfolio_html
from backend.outputs.run_description import run_description
from backend.schemas import Backtest
from shared.contracts.results import BacktestResult, BacktestStatistics
from shared.formatting import shown, shown_statistic

__all__ = ["report_html"]

_WIDTH, _HEIGHT, _MARGIN = 900, 260, 48
_STYLE = """
body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:960px;color:#1d2433;
padding:0 1rem}
h1{font-size:1.5rem;margin-bottom:.2rem}p.meta{color:#5b6475;margin-top:0}
svg{width:100%;height:auto;background:#fbfcfe;border:1px solid #e3e7ef;border-radius:6px}
table{border-collapse:collapse;width:100%;margin:1rem 0}td,th{padding:.25rem .5rem;text-align:right}
th:first-child,td:first-child{text-align:left}tr:nth-child(even){background:#f3f5f9}
table.inputs th,table.inputs td{text-align:left;vertical-align:top}
table.inputs th{width:9rem;font-weight:600}
.legend span{margin-right:1rem}.eq{color:#2563eb}.bh{color:#9ca3af}.dd{color:#dc2626}
"""


def report_html(backtest: Backtest, strategy_name: str) -> str:
    result = backtest.result
    if result is None:
        raise ValueError("a report needs a completed backtest")
    curve = result.equity_curve
    times = [moment.timestamp() for moment in curve.time]
    title = f"{strategy_name}: {result.symbol} {result.timeframe}"
    return "\n".join(
        [
            "<!doctype html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>",
            f"<h1>{escape(title)}</h1>",
            f'<p class="meta">{_day(result.start)} to {_day(result.end)}, {result.bars:,} bars; '
            f"initial capital {shown('money', result.initial_capital)}; "
            f"backtest {escape(backtest.id)}</p>",
            _inputs(backtest),
            "<h2>Equity</h2>",
            '<p class="legend"><span class="eq">&#9632; equity</span>'
            '<span class="bh">&#9632; buy and hold</span></p>',
            _chart(times, [("#2563eb", curve.equity), ("#9ca3af", curve.buy_and_hold)]),
            "<h2>Drawdown</h2>",
            _chart(times, [("#dc2626", curve.drawdown)], percent=True),
            "<h2>Statistics</h2>",
            _statistics(result),
            portfolio_html(result.portfolio) if result.portfolio else "",
            analysis_html(result, _chart),
            optimization_html(backtest.optimization) if backtest.optimization else "",
            f"<h2>Trades ({_trade_count(result)})</h2>",
            _trades(result),
            "</body></html>",
        ]
    )


def _inputs(backtest: Backtest) -> str:
    """What produced the run, before anything it produced."""
    rows = "".join(
        f"<tr><th>{escape(name)}</th><td>{escape(text)}</td></tr>"
        for name, text in run_description(backtest)
    )
    return f'<h2>Run</h2><table class="inputs" id="run-inputs"><tbody>{rows}</tbody></table>'


def _trade_count(result: BacktestResult) -> str:
    shown = len(result.trades)
    if result.total_trades > shown:
        return f"{result.total_trades:,}, the first {shown:,} shown"
    return f"{result.total_trades:,}"


def _chart(
    times: Sequence[float], series: Sequence[tuple[str, Sequence[float]]], percent: bool = False
) -> str:
    """Lines over a shared time axis, scaled to the values of all of them."""
    values = [value for _, line in series for value in line]
    if len(times) < 2 or not values:
        return "<p>Not enough points to draw.</p>"
    low, high = min(values), max(values)
    span_y = (high - low) or 1.0
    start, span_x = times[0], (times[-1] - times[0]) or 1.0
    inner_w, inner_h = _WIDTH - 2 * _MARGIN, _HEIGHT - 2 * _MARGIN

    def x(t: float) -> float:
        return _MARGIN + (t - start) / span_x * inner_w

    def y(v: float) -> float:
        return _MARGIN + (high - v) / span_y * inner_h

    lines = [
        f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="'
        + " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in zip(times, line, strict=True))
        + '"/>'
        for color, line in series
    ]

    def label(value: float) -> str:
        return f"{value * 100:.1f} %" if percent else f"{value:,.0f}"

    axis = [
        f'<text x="4" y="{y(high) + 4:.0f}" font-size="11">{label(high)}</text>',
        f'<text x="4" y="{y(low) + 4:.0f}" font-size="11">{label(low)}</text>',
        f'<text x="{_MARGIN}" y="{_HEIGHT - 12}" font-size="11">{_day_of(times[0])}</text>',
        f'<text x="{_WIDTH - _MARGIN}" y="{_HEIGHT - 12}" font-size="11" '
        f'text-anchor="end">{_day_of(times[-1])}</text>',
    ]
    return f'<svg viewBox="0 0 {_WIDTH} {_HEIGHT}" role="img">' + "".join(axis + lines) + "</svg>"


def _statistics(result: BacktestResult) -> str:
    rows = []
    for name in BacktestStatistics.model_fields:
        value = getattr(result, name)
        rows.append(f"<tr><td>{name.replace('_', ' ')}</td><td>{_number(name, value)}</td></tr>")
    return "<table><tbody>" + "".join(rows) + "</tbody></table>"


def _trades(result: BacktestResult) -> str:
    header = "".join(
        f"<th>{name}</th>"
        for name in ("side", "entry", "exit", "entry price", "exit price", "pnl", "return", "why")
    ) + "".join(f"<th>{name}</th>" for name in TRADE_EXTRA_HEADERS)
    rows = "".join(
        "<tr>"
        f"<td>{trade.side}</td><td>{_minute(trade.entry_time)}</td>"
        f"<td>{_minute(trade.exit_time)}</td><td>{shown('price', trade.entry_price)}</td>"
        f"<td>{shown('price', trade.exit_price)}</td><td>{shown('money', trade.pnl)}</td>"
        f"<td>{shown('percent', trade.return_fraction)}</td><td>{trade.exit_reason}</td>"
        f"{trade_extra_cells(trade)}</tr>"
        for trade in result.trades
    )
    return f"<table><thead><tr>{header}</tr></thead><tbody>{rows}</tbody></table>"


def _number(name: str, value: object) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, int | float):
        return shown_statistic(name, value)
    if isinstance(value, datetime):
        return _minute(value)
    return escape(str(value))


def _day(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d}"


def _day_of(timestamp: float) -> str:
    return _day(datetime.fromtimestamp(timestamp, UTC))


def _minute(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M}"
