"""Walk-forward validation: the windows a member asks for and what each one gave.

A sweep is optimized on each window's train bars by its objective; the winner then
trades the test bars that follow, its indicators warmed up on the train bars. The test
segments, each starting with the equity the previous one ended with, make one
out-of-sample run: the execution's `result`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from shared.contracts.backtests import ResolvedBacktest
from shared.contracts.common import Count, InconsistentRequest, WireModel
from shared.contracts.results import EquityCurve
from shared.contracts.strategies import ParameterName, ParameterValue
from shared.contracts.sweeps import Objective, Sweep
from shared.timeframes import TIMEFRAME_SECONDS, Timeframe

__all__ = [
    "MAX_WINDOWS",
    "ValidatedSweep",
    "Validation",
    "WalkForward",
    "WalkForwardWindow",
    "check_windows",
]

MAX_WINDOWS = 200
_UNIT_SECONDS = {"m": 60, "h": 3_600, "d": 86_400, "w": 604_800}
_DURATION = r"^[1-9][0-9]{0,5}[mhdw]$"

Duration = Annotated[
    str, Field(pattern=_DURATION, description="A length of time: 90d, 12h, 30m, 4w.")
]
WindowLength = Annotated[int, Field(ge=1, le=100_000_000)] | Duration


def _seconds(length: str) -> int:
    match = re.fullmatch(r"([0-9]+)([mhdw])", length)
    if match is None:  # the pattern let it through: unreachable for a validated model
        raise ValueError(f"not a duration: {length!r}")
    return int(match[1]) * _UNIT_SECONDS[match[2]]


class Validation(WireModel):
    """Walk-forward windows, as bar counts (all three) or durations (all three). Rolling:
    the train window slides by `step`; anchored: it always starts at the first bar and
    grows by `step`. The test window follows the train window; `step` (the test length
    when unset) may not be shorter than it, so no bar is tested twice. One window is a
    plain train/test split."""

    mode: Literal["rolling", "anchored"] = "rolling"
    train: WindowLength = Field(description="Bars (a number) or a duration such as '365d'.")
    test: WindowLength = Field(description="Bars (a number) or a duration such as '90d'.")
    step: WindowLength | None = Field(
        default=None, description="How far each window moves on; the test length if unset."
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        kinds = {type(length) for length in (self.train, self.test, self.step) if length}
        if len(kinds) > 1:
            raise ValueError("train, test and step must all be bar counts or all durations")
        if self.step_units < self.units(self.test):
            raise ValueError("step may not be shorter than test: test windows would overlap")
        return self

    @property
    def in_bars(self) -> bool:
        return isinstance(self.train, int)

    def units(self, length: int | str) -> int:
        """A length in the windows' units: bars, or seconds for durations."""
        return length if isinstance(length, int) else _seconds(length)

    @property
    def step_units(self) -> int:
        return self.units(self.step if self.step is not None else self.test)

    def bars_at_most(self, length: int | str, timeframe: Timeframe) -> int:
        """The most bars a window of `length` can hold."""
        if isinstance(length, int):
            return length
        return _seconds(length) // TIMEFRAME_SECONDS[timeframe]


class ValidatedSweep(WireModel):
    """A sweep with its walk-forward windows: what identifies a validation's work (its
    result is reused only for the same sweep and windows)."""

    sweep: Sweep
    validation: Validation


def check_windows(validation: Validation, sweep: Sweep, backtest: ResolvedBacktest) -> None:
    """InconsistentRequest at `validation.train` when a train window is too short for
    the longest lookback of any combination the sweep runs, or at `validation.test`
    when a test window cannot hold two bars; at `validation` for a random or TPE search,
    whose trials differ from window to window and so cannot be compared across them."""
    if sweep.method != "grid":
        raise InconsistentRequest(
            "validation",
            f"a walk-forward optimizes each window over a grid, not a {sweep.method} search",
        )
    timeframe = backtest.timeframe
    if validation.bars_at_most(validation.test, timeframe) < 2:
        raise InconsistentRequest(
            "validation.test", f"a test window of {validation.test} holds under 2 {timeframe} bars"
        )
    train = validation.bars_at_most(validation.train, timeframe)
    shortfall = backtest.first_shortfall(train, sweep.combinations(backtest.parameters))
    if shortfall is not None:
        name, need, parameters = shortfall
        raise InconsistentRequest(
            "validation.train",
            f"rules.{name}: {need.function} needs {need.bars} {timeframe} bars for a "
            f"first value with {_swept(parameters, sweep)}; a train window of "
            f"{validation.train} holds at most {train}",
        )


def _swept(parameters: Mapping[str, float], sweep: Sweep) -> str:
    return ", ".join(f"{name}={parameters[name]:g}" for name in sweep.grid)


class WalkForwardWindow(WireModel):
    """One window: its bars, the parameters its train bars chose and their objective in
    and out of sample (null where undefined)."""

    train_start: datetime
    train_end: datetime = Field(description="The last train bar's time.")
    test_start: datetime
    test_end: datetime = Field(description="The last test bar's time.")
    train_bars: Count
    test_bars: Count
    parameters: dict[ParameterName, ParameterValue] = Field(
        description="The swept parameters' values the train window chose."
    )
    in_sample: float | None = Field(description="The objective over the train bars.")
    out_of_sample: float | None = Field(description="The objective over the test bars.")
    out_of_sample_return: float = Field(description="The test segment's total return.")
    out_of_sample_trades: Count


class WalkForward(WireModel):
    """The outcome of a walk-forward validation. The execution's `result` is the stitched
    out-of-sample run: every test segment, with its trades, curves and statistics."""

    mode: Literal["rolling", "anchored"]
    objective: Objective
    windows: list[WalkForwardWindow]
    efficiency: float | None = Field(
        description="Walk-forward efficiency: the mean out-of-sample objective over the "
        "mean in-sample one; null unless the in-sample mean is positive."
    )
    in_sample_curve: EquityCurve = Field(
        description="In sample: each window's winner over the train bars its window "
        "added to the previous one's (the first window's: all of them), each part "
        "starting where the one before ended; only time and equity are set."
    )
