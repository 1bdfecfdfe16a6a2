"""A portfolio's calendar: the union of its symbols' bar times, where each symbol's
bars fall on it, and the bars at whose close its shares are rebalanced."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from backend_services.services.backtest.engine.compiled import compiled
from backend_services.services.backtest.engine.indicators import BoolArray
from backend_services.services.backtest.engine.metrics import DAY_S
from shared.contracts.portfolios import Rebalance
from shared.market_data.bars import IntArray

_WEEK_ORIGIN_S = 4 * DAY_S  # 1970-01-01 was a Thursday: weeks start on Monday


def union_calendar(times: Sequence[IntArray]) -> IntArray:
    """Every time any of the series has a bar at, in order (the common case, series
    with the same times, costs no copy): each series merged in, in one pass."""
    calendar = times[0]
    for other in times[1:]:
        if not np.array_equal(calendar, other):
            calendar = _merge_sorted(calendar, other)
    return calendar


@compiled
def _merge_sorted(first: IntArray, second: IntArray) -> IntArray:
    """The times in either of two increasing arrays, once each, in order."""
    merged = np.empty(first.shape[0] + second.shape[0], dtype=np.int64)
    i = j = count = 0
    while i < first.shape[0] or j < second.shape[0]:
        if j == second.shape[0] or (i < first.shape[0] and first[i] < second[j]):
            merged[count] = first[i]
            i += 1
        elif i == first.shape[0] or second[j] < first[i]:
            merged[count] = second[j]
            j += 1
        else:
            merged[count] = first[i]
            i += 1
            j += 1
        count += 1
    return merged[:count].copy()


@compiled
def aligned(own: IntArray, calendar: IntArray) -> tuple[IntArray, IntArray]:
    """Where each of a series' times is on the calendar (which holds them all), and for
    each calendar time the series' last bar up to it (-1 before its first), in one pass."""
    place = np.empty(own.shape[0], dtype=np.int64)
    last = np.empty(calendar.shape[0], dtype=np.int64)
    bar = -1
    for t in range(calendar.shape[0]):
        if bar + 1 < own.shape[0] and own[bar + 1] == calendar[t]:
            bar += 1
            place[bar] = t
        last[t] = bar
    return place, last


def rebalance_bars(time: IntArray, rebalance: Literal["never"] | Rebalance) -> BoolArray:
    """Whether the shares are reset at each calendar bar's close: every `every` bars
    (bars every, 2 every, ... counted from 1), or at the first bar of each new period of
    `every` UTC days or weeks (weeks from Monday). Never after the last bar."""
    at: BoolArray = np.zeros(time.shape[0], dtype=bool)
    if rebalance == "never":
        return at
    if rebalance.unit == "bars":
        at[rebalance.every - 1 :: rebalance.every] = True
    else:
        weeks = rebalance.unit == "weeks"
        width = rebalance.every * DAY_S * (7 if weeks else 1)
        period = (time - (_WEEK_ORIGIN_S if weeks else 0)) // width
        at[1:] = period[1:] != period[:-1]
    at[-1] = False
    return at
