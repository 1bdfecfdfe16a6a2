"""report.html's analysis: returns by month with yearly totals, the worst drawdown
periods, long and short trades apart, the rolling Sharpe ratio, and what the trades
table shows of each trade beyond its fills. Results stored before the engine computed
them have none (the sections say so)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from html import escape

from shared.contracts.analysis import BacktestAnalysis, SideStatistics
from shared.contracts.results import BacktestResult, Trade
from shared.formatting import Kind, shown

__all__ = ["TRADE_EXTRA_HEADERS", "analysis_html", "trade_extra_cells"]

# Draws lines over a time axis as an SVG chart: report.py's.
LineChart = Callable[[Sequence[float], Sequence[tuple[str, Sequence[float]]]], str]

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_SIDE_ROWS: tuple[tuple[str, Kind], ...] = (
    ("trades", "count"),
    ("win_rate", "percent"),
    ("profit_factor", "ratio"),
    ("total_pnl", "money"),
    ("expectancy", "money"),
    ("average_trade", "percent"),
    ("best_trade", "percent"),
    ("worst_trade", "percent"),
    ("average_trade_duration_bars", "count"),
    ("commission", "money"),
)
TRADE_EXTRA_HEADERS = ("duration", "size", "notional", "commission", "run-up", "drawdown")
_STYLE = (
    "<style>td.up{color:#15803d}td.down{color:#b91c1c}"
    "table.months td,table.months th{font-size:.85rem;padding:.2rem .3rem}</style>"
)


def analysis_html(result: BacktestResult, chart: LineChart) -> str:
    analysis = result.analysis
    if analysis is None:
        return "<h2>Analysis</h2><p>This result was stored before its analysis was computed.</p>"
    sharpe = analysis.rolling_sharpe
    points = [
        (moment.timestamp(), value)
        for moment, value in zip(sharpe.time, sharpe.sharpe, strict=True)
        if value is not None
    ]
    return "\n".join(
        [
            _STYLE,
            "<h2>Monthly returns</h2>",
            _monthly(analysis),
            "<h2>Worst drawdowns</h2>",
            _drawdowns(analysis),
            "<h2>Long and short trades</h2>",
            _sides(analysis),
            f"<h2>Rolling Sharpe ratio ({sharpe.window_bars:,} bars)</h2>",
            chart([t for t, _ in points], [("#7c3aed", [v for _, v in points])]),
        ]
    )


def _monthly(analysis: BacktestAnalysis) -> str:
    by_month = {(row.year, row.month): row.return_fraction for row in analysis.monthly_returns}
    header = "".join(f"<th>{name}</th>" for name in ("Year", *_MONTHS, "Year total"))
    rows = "".join(
        f"<tr><td>{year.year}</td>"
        + "".join(_percent_cell(by_month.get((year.year, month))) for month in range(1, 13))
        + _percent_cell(year.return_fraction)
        + "</tr>"
        for year in analysis.yearly_returns
    )
    return _table('class="months" id="monthly-returns"', header, rows)


def _percent_cell(value: float | None) -> str:
    if value is None:
        return "<td></td>"
    kind = "up" if value > 0 else "down" if value < 0 else ""
    return f'<td class="{kind}">{shown("percent", value)}</td>'


def _drawdowns(analysis: BacktestAnalysis) -> str:
    header = "".join(
        f"<th>{name}</th>" for name in ("#", "start", "trough", "recovery", "depth", "bars below")
    )
    rows = "".join(
        f"<tr><td>{rank}</td><td>{_minute(period.start)}</td><td>{_minute(period.trough)}</td>"
        f"<td>{_minute(period.recovery) if period.recovery else 'not recovered'}</td>"
        f"<td>{shown('percent', period.depth)}</td><td>{period.length_bars:,}</td></tr>"
        for rank, period in enumerate(analysis.worst_drawdowns, start=1)
    )
    return (
        f'<table id="worst-drawdowns"><thead><tr>{header}</tr></thead><tbody>{rows}</tbody></table>'
    )


def _sides(analysis: BacktestAnalysis) -> str:
    sides = analysis.sides
    columns: tuple[SideStatistics, ...] = (sides.all, sides.long, sides.short)
    header = "<th></th><th>all</th><th>long</th><th>short</th>"
    rows = "".join(
        f"<tr><td>{name.replace('_', ' ')}</td>"
        + "".join(f"<td>{shown(kind, getattr(side, name))}</td>" for side in columns)
        + "</tr>"
        for name, kind in _SIDE_ROWS
    )
    return _table('id="side-split"', header, rows)


def _table(attributes: str, header: str, rows: str) -> str:
    return f"<table {attributes}><thead><tr>{header}</tr></thead><tbody>{rows}</tbody></table>"


def trade_extra_cells(trade: Trade) -> str:
    """The cells under TRADE_EXTRA_HEADERS; empty for a trade stored without them."""
    if trade.duration_seconds is None:
        return f"<td></td><td>{trade.size:,.4f}</td>" + "<td></td>" * 4
    values = (
        _duration(trade.duration_seconds),
        f"{trade.size:,.4f}",
        shown("money", trade.notional),
        shown("money", trade.commission),
        shown("percent", trade.run_up),
        shown("percent", trade.drawdown),
    )
    return "".join(f"<td>{value}</td>" for value in values)


def _duration(seconds: int) -> str:
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    return f"{days}d {hours}h" if days else f"{hours}h {rest // 60}m"


def _minute(moment: datetime) -> str:
    return escape(f"{moment:%Y-%m-%d %H:%M}")
