"""How commands show things in a terminal: statistics, tables and a progress bar."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from typing import Any, TextIO

from botclub.numbers import shown, shown_statistic

__all__ = ["ProgressBar", "print_json", "print_statistics", "print_table", "statistics_lines"]

_HEADLINE = [
    ("total_return", "Total return"),
    ("buy_and_hold_return", "Buy & hold return"),
    ("cagr", "CAGR"),
    ("sharpe_ratio", "Sharpe ratio"),
    ("sortino_ratio", "Sortino ratio"),
    ("max_drawdown", "Max drawdown"),
    ("volatility", "Volatility (ann.)"),
    ("exposure", "Exposure"),
    ("total_trades", "Trades"),
    ("win_rate", "Win rate"),
    ("profit_factor", "Profit factor"),
    ("final_equity", "Final equity"),
]


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2))


def statistics_lines(result: dict[str, Any]) -> list[str]:
    period = f"{result['start'][:10]} to {result['end'][:10]}"
    lines = [f"{result['symbol']} {result['timeframe']}, {period}, {result['bars']} bars"]
    for key, label in _HEADLINE:
        lines.append(f"  {label:<20}{shown_statistic(key, result.get(key)):>16}")
    return lines


def print_statistics(result: dict[str, Any]) -> None:
    print("\n".join(statistics_lines(result)))


def print_table(
    headers: Sequence[str], rows: Sequence[Sequence[Any]], statistics: Sequence[str] = ()
) -> None:
    """Columns as wide as their widest cell; numbers right-aligned. `statistics` names
    the statistic each column holds (botclub.numbers.KIND_OF), so a column of
    returns shows percentages; "" or none for a column that is no statistic."""
    names = [*statistics, *[""] * (len(headers) - len(statistics))]
    cells = [[_cell(value, name) for value, name in zip(row, names, strict=True)] for row in rows]
    widths = [
        max([len(header)] + [len(row[i]) for row in cells]) for i, header in enumerate(headers)
    ]
    numeric = [all(_is_number(row[i]) for row in rows) and bool(rows) for i in range(len(headers))]

    def line(values: Sequence[str]) -> str:
        parts = [
            value.rjust(width) if right else value.ljust(width)
            for value, width, right in zip(values, widths, numeric, strict=True)
        ]
        return "  ".join(parts).rstrip()

    print(line(headers))
    print(line(["-" * width for width in widths]))
    for row in cells:
        print(line(row))


class ProgressBar:
    """A live bar on a terminal (redrawn in place); on a pipe or a file, a line each
    time the status changes or another tenth is done, so a log stays short."""

    WIDTH = 30

    def __init__(self, stream: TextIO = sys.stderr) -> None:
        self._stream = stream
        self._live = stream.isatty()
        self._shown: tuple[str, int] | None = None
        self._started = time.monotonic()

    def update(self, status: str, progress: float) -> None:
        if self._live:
            filled = int(self.WIDTH * progress / 100)
            bar = "#" * filled + "-" * (self.WIDTH - filled)
            elapsed = time.monotonic() - self._started
            self._stream.write(f"\r[{bar}] {progress:5.1f} %  {status:<9} {elapsed:5.1f} s")
            self._stream.flush()
            return
        step = (status, int(progress // 10))
        if step != self._shown:
            self._shown = step
            self._stream.write(f"{status:<9} {progress:5.1f} %\n")
            self._stream.flush()

    def close(self) -> None:
        if self._live:
            self._stream.write("\n")
            self._stream.flush()


def _cell(value: Any, name: str) -> str:
    if value is None:
        return "-"
    if name and _is_number(value):
        return shown_statistic(name, value)
    if isinstance(value, float):
        return shown("ratio", value)
    return str(value)


def _is_number(value: Any) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)) or value is None
