"""A sweep's heatmap: the objective over its first two swept parameters, the best over
any others. A grid's axes are its values; a search's are the values its trials took,
or, past MAX_AXIS_VALUES of them (a range of real numbers gives each trial its own),
MAX_AXIS_VALUES equal bins between the smallest and the largest, each named by its
centre."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from shared.contracts.sweeps import Heatmap, Sweep, SweepRow

__all__ = ["MAX_AXIS_VALUES", "heatmap"]

MAX_AXIS_VALUES = 50
_CENTRE_DIGITS = 6  # significant digits of a bin's centre


@dataclass(frozen=True, slots=True)
class _Axis:
    values: list[float]
    index: Callable[[float], int]

    @classmethod
    def of(cls, sweep: Sweep, name: str, rows: list[SweepRow]) -> _Axis:
        if sweep.method == "grid":
            return cls._exact(sweep.grid[name])
        taken = sorted({row.parameters[name] for row in rows})
        if len(taken) <= MAX_AXIS_VALUES:
            return cls._exact(taken)
        edges = np.linspace(taken[0], taken[-1], MAX_AXIS_VALUES + 1)
        centres = [float(f"{centre:.{_CENTRE_DIGITS}g}") for centre in (edges[:-1] + edges[1:]) / 2]

        def bin_of(value: float) -> int:
            return min(int(np.searchsorted(edges, value, side="right")) - 1, MAX_AXIS_VALUES - 1)

        return cls(centres, bin_of)

    @classmethod
    def _exact(cls, values: list[float]) -> _Axis:
        at = {value: k for k, value in enumerate(values)}
        return cls(values, at.__getitem__)


def heatmap(sweep: Sweep, rows: list[SweepRow]) -> Heatmap:
    """The objective over the first two swept parameters, the best over any others."""
    names = sweep.swept
    x, y = names[0], names[1] if len(names) > 1 else None
    x_axis = _Axis.of(sweep, x, rows)
    y_axis = _Axis.of(sweep, y, rows) if y is not None else None
    empty: list[float | None] = [None] * len(x_axis.values)
    values = [list(empty) for _ in range(len(y_axis.values) if y_axis else 1)]
    for row in rows:
        if row.objective is None:
            continue
        i = y_axis.index(row.parameters[y]) if y_axis and y is not None else 0
        j = x_axis.index(row.parameters[x])
        current = values[i][j]
        if current is None or row.objective > current:
            values[i][j] = row.objective
    return Heatmap(
        x=x,
        x_values=x_axis.values,
        y=y,
        y_values=y_axis.values if y_axis else [],
        values=values,
    )
