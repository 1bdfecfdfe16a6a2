"""The rule language's reference, as `GET /api/functions` gives it: every function a
rule may call, with what it takes, gives and needs of history."""

from __future__ import annotations

import functools
from typing import Literal

from pydantic import ConfigDict, Field

from shared.contracts.common import WireModel
from shared.rules.functions import (
    FUNCTIONS,
    MAX_PERIOD,
    MOVING_AVERAGES,
    ArgKind,
    Function,
    Kind,
)

__all__ = ["ArgumentInfo", "FunctionInfo", "function_reference"]


ArgumentKind = Literal["series", "period", "number", "ma_type"]
_KINDS: dict[ArgKind, ArgumentKind] = {
    ArgKind.SERIES: "series",
    ArgKind.PERIOD: "period",
    ArgKind.NUMBER: "number",
    ArgKind.MA_TYPE: "ma_type",
}
_MA_NAMES = {number: name for name, number in MOVING_AVERAGES.items()}


class ArgumentInfo(WireModel):
    name: str
    kind: ArgumentKind = Field(
        description="series: a price or an expression over bars; period: a whole number "
        "of bars; number: a constant; ma_type: a moving average by name (sma, ema, ...)."
    )
    default: str | float | None = Field(
        description="A series' default is a bar series (close, high, ...): the price "
        "inputs of a function may all be left out together. Null: must be given."
    )
    low: float | None = Field(default=None, description="The smallest value taken.")
    high: float | None = Field(default=None, description="The largest value taken.")


class FunctionInfo(WireModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "adx",
                    "group": "Momentum Indicators",
                    "doc": "Average Directional Movement Index",
                    "signature": "adx(high, low, close, timeperiod=14)",
                    "arguments": [
                        {"name": "high", "kind": "series", "default": "high"},
                        {"name": "low", "kind": "series", "default": "low"},
                        {"name": "close", "kind": "series", "default": "close"},
                        {
                            "name": "timeperiod",
                            "kind": "period",
                            "default": 14,
                            "low": 2,
                            "high": 1000,
                        },
                    ],
                    "result": "series",
                    "outputs": ["adx"],
                    "ta_lib": "ADX",
                    "lookback": 27,
                }
            ]
        }
    )
    name: str = Field(examples=["adx"])
    group: str = Field(examples=["Momentum Indicators"])
    doc: str = Field(examples=["Average Directional Movement Index"])
    signature: str = Field(examples=["adx(high, low, close, timeperiod=14)"])
    arguments: list[ArgumentInfo]
    result: Literal["series", "condition"]
    outputs: list[str] = Field(
        description="The names of every output of the same TA-Lib call, in TA-Lib's order "
        "(stoch_slowk, stoch_slowd): computed once, whichever are used. Its own name alone "
        "for a function of one output."
    )
    ta_lib: str | None = Field(description="The TA-Lib function it computes (its output).")
    lookback: int | None = Field(
        description="Bars before its first value with the default arguments (its inputs' "
        "own lookbacks come on top); null where an argument has no default."
    )

    @classmethod
    def of(cls, function: Function) -> FunctionInfo:
        arguments = [
            ArgumentInfo(
                name=arg.name,
                kind=_KINDS[arg.kind],
                default=_MA_NAMES[int(arg.default)]
                if arg.kind is ArgKind.MA_TYPE and arg.default is not None
                else arg.default,
                low=arg.low,
                high=MAX_PERIOD if arg.kind is ArgKind.PERIOD else arg.high,
            )
            for arg in function.args
        ]
        complete = all(
            arg.default is not None for arg in function.args if arg.kind is not ArgKind.SERIES
        )
        return cls(
            name=function.name,
            group=function.group,
            doc=function.doc,
            signature=function.name + function.signature(),
            arguments=arguments,
            result="condition" if function.result is Kind.CONDITION else "series",
            outputs=list(function.output_names),
            ta_lib=function.talib or None,
            lookback=function.lookback([None] * len(function.inputs)) if complete else None,
        )


@functools.cache
def function_reference() -> list[FunctionInfo]:
    """Every function, grouped, by name within a group."""
    return [
        FunctionInfo.of(function)
        for function in sorted(FUNCTIONS.values(), key=lambda f: (f.group, f.name))
    ]
