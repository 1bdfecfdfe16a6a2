"""OHLCV bars as columns of numpy arrays, and the operations on them the engine needs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from shared.timeframes import TIMEFRAME_SECONDS, Timeframe

__all__ = [
    "Bars",
    "FloatArray",
    "IntArray",
    "MarketDataError",
    "candle_bounds",
    "concatenate",
    "detect_timeframe",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# 1970-01-01 was a Thursday; weekly bars start on Monday 00:00 UTC.
_WEEK_ORIGIN_S = 4 * 86_400


class MarketDataError(ValueError):
    """Bars that cannot serve a request: unknown symbol, empty range, bad timeframe."""


@dataclass(frozen=True, slots=True)
class Bars:
    """Bars in time order. `time` holds each bar's open time in UTC epoch seconds.

    Every array has shape (n,); prices and volume are float64, time is int64.
    """

    time: IntArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray

    def __len__(self) -> int:
        return int(self.time.shape[0])

    @property
    def nbytes(self) -> int:
        return sum(column.nbytes for column in self.columns())

    def columns(
        self,
    ) -> tuple[IntArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
        return (self.time, self.open, self.high, self.low, self.close, self.volume)

    def between(self, start_s: int, end_s: int) -> Bars:
        """The bars whose open time lies in [start_s, end_s]."""
        return self.take(self.span(start_s, end_s))

    def span(self, start_s: int, end_s: int) -> slice:
        """Where the bars whose open time lies in [start_s, end_s] are."""
        first, last = np.searchsorted(self.time, [start_s, end_s], side="left")
        if last < len(self) and self.time[last] == end_s:
            last += 1
        return slice(int(first), int(last))

    def resample(self, timeframe: Timeframe, session_start_s: int = 0) -> Bars:
        """Aggregate into `timeframe` bars: first open, highest high, lowest low, last
        close, summed volume; empty bins are left out. Intraday bins are aligned to UTC;
        daily bins start at the session start (seconds after 00:00 UTC, negative for the
        evening before), weekly bins at Monday's session start.
        """
        width = TIMEFRAME_SECONDS[timeframe]
        if len(self) == 0:
            return self
        origin = 0
        if timeframe in ("1d", "1w"):
            origin = session_start_s + (_WEEK_ORIGIN_S if timeframe == "1w" else 0)
        bins = (self.time - origin) // width
        starts = np.flatnonzero(np.diff(bins, prepend=bins[0] - 1))
        ends = np.append(starts[1:], len(self)) - 1
        return Bars(
            time=bins[starts] * width + origin,
            open=self.open[starts],
            high=np.maximum.reduceat(self.high, starts),
            low=np.minimum.reduceat(self.low, starts),
            close=self.close[ends],
            volume=np.add.reduceat(self.volume, starts),
        )

    def in_candles(self, most: int) -> Bars:
        """At most `most` bars, each joining a run of consecutive bars as `resample`
        joins a period's: a chart of a million bars drawn from a few thousand candles
        still shows every high and every low."""
        if len(self) <= most:
            return self
        starts, ends = candle_bounds(len(self), most)
        return Bars(
            time=self.time[starts],
            open=self.open[starts],
            high=np.maximum.reduceat(self.high, starts),
            low=np.minimum.reduceat(self.low, starts),
            close=self.close[ends],
            volume=np.add.reduceat(self.volume, starts),
        )

    def take(self, index: slice | npt.NDArray[np.bool_] | npt.NDArray[np.intp]) -> Bars:
        """The bars selected by a slice, a boolean mask or positions."""
        return Bars(
            time=self.time[index],
            open=self.open[index],
            high=self.high[index],
            low=self.low[index],
            close=self.close[index],
            volume=self.volume[index],
        )


def concatenate(parts: list[Bars]) -> Bars:
    """Join runs of bars that follow each other in time."""
    if not parts:
        empty_f = np.empty(0, dtype=np.float64)
        return Bars(np.empty(0, dtype=np.int64), empty_f, empty_f, empty_f, empty_f, empty_f)
    return Bars(
        time=np.concatenate([p.time for p in parts]),
        open=np.concatenate([p.open for p in parts]),
        high=np.concatenate([p.high for p in parts]),
        low=np.concatenate([p.low for p in parts]),
        close=np.concatenate([p.close for p in parts]),
        volume=np.concatenate([p.volume for p in parts]),
    )


def detect_timeframe(time: IntArray) -> Timeframe:
    """The supported timeframe that matches the most common spacing between bars."""
    if time.shape[0] < 2:
        raise MarketDataError("at least two bars are needed to tell their timeframe")
    spacings, counts = np.unique(np.diff(time), return_counts=True)
    spacing = int(spacings[np.argmax(counts)])
    for name, seconds in TIMEFRAME_SECONDS.items():
        if seconds == spacing:
            return name
    raise MarketDataError(
        f"bars {_spacing_in_words(spacing)} apart match no supported timeframe "
        f"({', '.join(TIMEFRAME_SECONDS)}); monthly or irregular bars cannot be imported"
    )


def _spacing_in_words(seconds: int) -> str:
    """17 s, 3 minutes, 2 hours, about 31 days."""
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60)):
        if seconds >= size:
            count = seconds / size
            about = "" if count.is_integer() else "about "
            return f"{about}{round(count):g} {unit}{'s' if round(count) != 1 else ''}"
    return f"{seconds} s"


def candle_bounds(count: int, most: int) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """The first and last positions of the candles `Bars.in_candles` makes of `count`
    bars: runs of equal length (the last one shorter), at most `most` of them."""
    per_candle = -(-count // most) if count > most else 1
    starts = np.arange(0, count, per_candle)
    ends = np.append(starts[1:], count) - 1
    return starts, ends
