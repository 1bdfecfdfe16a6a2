"""report.html's part for an optimization: how likely its winner is to be luck (the
deflated Sharpe ratio and the probability of backtest overfitting), its heatmap of the
objective over the swept parameters, drawn as inline SVG (one cell per combination, its
value in the cell's tooltip), and the top of its ranking."""

from __future__ import annotations

from html import escape

from backend.schemas import OptimizationOutline
from shared.contracts.sweeps import Heatmap
from shared.formatting import shown, shown_statistic

__all__ = ["optimization_html"]

_WIDTH, _HEIGHT, _LEFT, _BOTTOM, _TOP, _RIGHT = 900, 360, 70, 48, 16, 90
# Low to high: the ends and middle of viridis, the dashboard's heatmap scale.
_SCALE = ((68, 1, 84), (33, 145, 140), (253, 231, 37))
_RANKING_COLUMNS = (
    "objective",
    "total_return",
    "cagr",
    "sharpe_ratio",
    "max_drawdown",
    "total_trades",
    "win_rate",
    "profit_factor",
)


def optimization_html(outline: OptimizationOutline) -> str:
    objective = outline.objective.replace("_", " ")
    best = ", ".join(f"{name} = {value}" for name, value in outline.best_parameters.items())
    return "\n".join(
        [
            f"<h2>Optimization: {outline.combinations:,} combinations ranked by {objective}</h2>",
            f"<p>Best: <strong>{escape(best)}</strong>; {outline.excluded:,} combinations "
            "left out by the constraint.</p>",
            _luck(outline),
            _heatmap(outline.heatmap, objective),
            f"<h2>Ranking (top {len(outline.ranked)} of {outline.ranked_total:,})</h2>",
            _ranking(outline),
        ]
    )


def _luck(outline: OptimizationOutline) -> str:
    """The two numbers the README's "Is the winner luck?" explains, in its words."""
    lines = []
    if (dsr := outline.deflated_sharpe) is not None:
        lines.append(
            f'<li id="deflated-sharpe">Deflated Sharpe ratio {shown("percent", dsr.value)}: '
            f"the chance the best beats the luckiest of {dsr.trials:,} tries "
            "(0.95 or more: unlikely to be luck).</li>"
        )
    if (pbo := outline.pbo) is not None:
        lines.append(
            f'<li id="pbo">Probability of backtest overfitting {shown("percent", pbo.value)}: '
            f"how often the best on half the bars is below the median on the other half "
            f"({pbo.splits:,} splits; near 50 % or above, the ranking is noise).</li>"
        )
    return f"<ul>{''.join(lines)}</ul>" if lines else ""


def _heatmap(heatmap: Heatmap, objective: str) -> str:
    values = [value for row in heatmap.values for value in row if value is not None]
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    columns, rows = len(heatmap.x_values), len(heatmap.values)
    cell_w = (_WIDTH - _LEFT - _RIGHT) / max(columns, 1)
    cell_h = (_HEIGHT - _TOP - _BOTTOM) / max(rows, 1)
    cells = []
    for i, row in enumerate(heatmap.values):
        for j, value in enumerate(row):
            x, y = _LEFT + j * cell_w, _HEIGHT - _BOTTOM - (i + 1) * cell_h
            where = f"{heatmap.x} = {heatmap.x_values[j]}"
            if heatmap.y:
                where += f", {heatmap.y} = {heatmap.y_values[i]}"
            shown = "no value" if value is None else f"{value:,.4g}"
            cells.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{cell_w + 0.5:.1f}" '
                f'height="{cell_h + 0.5:.1f}" fill="{_color(value, low, high)}">'
                f"<title>{escape(where)}: {objective} {shown}</title></rect>"
            )
    every_x, every_y = -(-columns // 12), -(-rows // 10)
    labels = [
        f'<text x="{_LEFT + (j + 0.5) * cell_w:.1f}" y="{_HEIGHT - _BOTTOM + 16}" '
        f'font-size="11" text-anchor="middle">{escape(str(value))}</text>'
        for j, value in enumerate(heatmap.x_values)
        if j % every_x == 0
    ]
    labels += [
        f'<text x="{_LEFT - 6}" y="{_HEIGHT - _BOTTOM - (i + 0.5) * cell_h + 4:.1f}" '
        f'font-size="11" text-anchor="end">{escape(str(value))}</text>'
        for i, value in enumerate(heatmap.y_values)
        if i % every_y == 0
    ]
    labels += [
        f'<text x="{(_WIDTH - _RIGHT + _LEFT) / 2:.0f}" y="{_HEIGHT - 8}" font-size="12" '
        f'text-anchor="middle">{escape(heatmap.x)}</text>',
        f'<text x="14" y="{_TOP + 12}" font-size="12">{escape(heatmap.y or objective)}</text>',
        *_scale_end(high, _TOP, _color(high, low, high)),
        *_scale_end(low, _TOP + 24, _color(low, low, high)),
    ]
    return (
        f'<svg id="heatmap" viewBox="0 0 {_WIDTH} {_HEIGHT}" role="img" '
        f'aria-label="{objective} over the swept parameters">' + "".join(cells + labels) + "</svg>"
    )


def _scale_end(value: float, top: float, color: str) -> list[str]:
    """A swatch of the scale's colour at one end, with its value beside it."""
    left = _WIDTH - _RIGHT + 12
    return [
        f'<rect x="{left}" y="{top}" width="14" height="14" fill="{color}"/>',
        f'<text x="{left + 20}" y="{top + 11}" font-size="11">{value:,.4g}</text>',
    ]


def _color(value: float | None, low: float, high: float) -> str:
    if value is None:
        return "#f3f4f6"
    share = (value - low) / (high - low) if high > low else 0.5
    half = 0 if share < 0.5 else 1
    mix = share * 2 - half
    start, end = _SCALE[half], _SCALE[half + 1]
    red, green, blue = (round(a + (b - a) * mix) for a, b in zip(start, end, strict=True))
    return f"#{red:02x}{green:02x}{blue:02x}"


def _ranking(outline: OptimizationOutline) -> str:
    names = list(outline.ranked[0].parameters) if outline.ranked else []
    header = "".join(
        f"<th>{escape(name.replace('_', ' '))}</th>" for name in ("rank", *names, *_RANKING_COLUMNS)
    )
    rows = "".join(
        f"<tr><td>{rank}</td>"
        + "".join(f"<td>{escape(str(row.parameters[name]))}</td>" for name in names)
        + "".join(
            f"<td>{shown_statistic(name, getattr(row, name))}</td>" for name in _RANKING_COLUMNS
        )
        + "</tr>"
        for rank, row in enumerate(outline.ranked, start=1)
    )
    return f'<table id="ranking"><thead><tr>{header}</tr></thead><tbody>{rows}</tbody></table>'
