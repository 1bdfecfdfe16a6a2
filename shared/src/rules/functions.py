"""The functions a rule may call: what each takes, gives, and needs of history.

Every TA-Lib function, by its lower-case name, with TA-Lib's inputs, argument order and
defaults; each output of a multi-output function by a name of its own
(`bbands_upper`, `stoch_slowk`, `macd_signal`); each candlestick pattern also as two
conditions (`cdlengulfing_bullish`, `cdlengulfing_bearish`). Their description comes
from `talib_functions.json`, generated from TA-Lib's abstract API
(scripts/function_catalogue.py), so this package never imports TA-Lib. A few functions
of the language's own (`stdev`, `highest`, `lowest`, `bb_*`, `crossover`,
`crossunder`) complete it. How each is computed lives in the engine
(`engine/rule_functions.py`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from importlib import resources
from typing import Any

from shared.rules.lookback import MOVING_AVERAGES, WRITTEN_OUT

__all__ = [
    "FUNCTIONS",
    "MAX_PERIOD",
    "MOVING_AVERAGES",
    "OWN_GROUP",
    "PRICE_SERIES",
    "TA_LIB_VERSION",
    "ArgKind",
    "Argument",
    "Function",
    "Kind",
]

MAX_PERIOD = 1_000
PRICE_SERIES = ("open", "high", "low", "close", "volume")
OWN_GROUP = "Bot Club"


class Kind(Enum):
    NUMBER = "number"
    SERIES = "series"
    CONDITION = "condition"


class ArgKind(Enum):
    SERIES = "series"
    PERIOD = "period"  # a whole number of bars, low..MAX_PERIOD
    NUMBER = "number"
    MA_TYPE = "ma_type"  # a moving average, by name: sma, ema, ...


@dataclass(frozen=True)
class Argument:
    name: str
    kind: ArgKind
    # A bar series' name for a series, a number otherwise; None: it must be given.
    default: str | float | None = None
    low: float | None = None
    high: float | None = None

    def refusal(self, value: float) -> str | None:
        """What this argument must be, in words, when `value` is not it; else None."""
        if self.kind is ArgKind.PERIOD:
            low = int(self.low or 1)
            if not (float(value).is_integer() and low <= value <= MAX_PERIOD):
                return f"a whole number from {low} to {MAX_PERIOD}"
        elif self.low is not None and value < self.low:
            return f"{self.low:g} or more"
        elif self.high is not None and value > self.high:
            return f"{self.high:g} or less"
        return None

    def describe(self) -> str:
        if self.default is None:
            return self.name
        if self.kind is ArgKind.MA_TYPE:
            return f"{self.name}={_MA_NAMES[int(self.default)]}"
        if self.kind is ArgKind.SERIES:
            return str(self.default)
        return f"{self.name}={self.default:g}"


@dataclass(frozen=True)
class Function:
    """One name of the language. `talib` names the TA-Lib function it gives an output
    of (its `output`-th; `condition` "bullish" or "bearish" for a pattern's), empty
    for the language's own."""

    name: str
    group: str
    doc: str
    args: tuple[Argument, ...]
    result: Kind
    lookback_of: Callable[[Mapping[str, float]], int]
    talib: str = ""
    output: int = 0
    outputs: tuple[str, ...] = ()
    condition: str = ""

    @property
    def inputs(self) -> tuple[Argument, ...]:
        return tuple(arg for arg in self.args if arg.kind is ArgKind.SERIES)

    @property
    def inputs_from_bars(self) -> bool:
        """Whether the series inputs may all be left out, meaning the bars' own
        (`atr(14)` is `atr(high, low, close, 14)`)."""
        return bool(self.inputs) and all(arg.default is not None for arg in self.inputs)

    @property
    def min_args(self) -> int:
        return sum(1 for arg in self.args if arg.default is None or arg.kind is ArgKind.SERIES)

    def signature(self) -> str:
        return f"({', '.join(arg.describe() for arg in self.args)})"

    @property
    def output_names(self) -> tuple[str, ...]:
        """The names of every output of the TA-Lib call this name gives one of, in
        TA-Lib's order (`stoch_slowk`, `stoch_slowd`); its own name alone otherwise."""
        if len(self.outputs) < 2 or self.condition:
            return (self.name,)
        return tuple(_output_name(self.talib.lower(), output) for output in self.outputs)

    def with_defaults(self, args: Sequence[Any]) -> list[Any]:
        """`args` completed with the defaults of the arguments left out."""
        return [*args, *(arg.default for arg in self.args[len(args) :])]

    def lookback(self, args: Sequence[Any]) -> int:
        """Bars of history before its first value, given its arguments in order (the
        series' values are not read; defaults filled in here). The series' own
        lookbacks come on top."""
        values = self.with_defaults(args)
        named = {
            arg.name: float(value)
            for arg, value in zip(self.args, values, strict=True)
            if arg.kind is not ArgKind.SERIES
        }
        return self.lookback_of(named)


_MA_NAMES = {number: name for name, number in MOVING_AVERAGES.items()}
_KINDS = {"period": ArgKind.PERIOD, "number": ArgKind.NUMBER, "ma_type": ArgKind.MA_TYPE}


def _catalogue() -> dict[str, Any]:
    text = resources.files("shared.rules").joinpath("talib_functions.json").read_text()
    catalogue: dict[str, Any] = json.loads(text)
    return catalogue


def _linear(constant: int, per: Mapping[str, int]) -> Callable[[Mapping[str, float]], int]:
    return lambda values: constant + sum(int(values[name]) * c for name, c in per.items())


def _output_name(function: str, output: str) -> str:
    """`stoch` and `slowk` -> `stoch_slowk`. An output starting with its function's
    name, or sharing four letters or more with it, loses them, and `band` at its end:
    `macd` (the main output), `macd_signal`, `macdext_signal`, `aroon_up`,
    `bbands_upper`."""
    shared = next(
        (i for i, (a, b) in enumerate(zip(function, output, strict=False)) if a != b),
        min(len(function), len(output)),
    )
    short = output[shared:] if shared >= min(4, len(function)) else output
    short = short.removesuffix("band") if short != "band" else short
    return f"{function}_{short}" if short else function


def _talib_functions() -> dict[str, Function]:
    functions: dict[str, Function] = {}
    for upper, entry in _catalogue()["functions"].items():
        lower = upper.lower()
        args = tuple(
            Argument(name, ArgKind.SERIES, name if name in PRICE_SERIES else None)
            for name in entry["inputs"]
        )
        args += tuple(
            Argument(
                arg["name"],
                _KINDS[arg["kind"]],
                arg["default"],
                arg.get("low"),
                arg.get("high"),
            )
            for arg in entry["arguments"]
        )
        linear = entry["lookback"]
        lookback_of = (
            WRITTEN_OUT[upper] if linear is None else _linear(linear["constant"], linear["per"])
        )
        outputs = tuple(entry["outputs"])
        names = [lower] if len(outputs) == 1 else [_output_name(lower, o) for o in outputs]
        for index, name in enumerate(names):
            suffix = "" if len(outputs) == 1 else f" ({outputs[index]})"
            functions[name] = Function(
                name, entry["group"], entry["doc"] + suffix, args, Kind.SERIES, lookback_of,
                upper, index, outputs,
            )  # fmt: skip
        if entry["candlestick"]:
            for condition in ("bullish", "bearish"):
                functions[f"{lower}_{condition}"] = Function(
                    f"{lower}_{condition}", entry["group"],
                    f"{entry['doc']}, {condition}: a condition", args, Kind.CONDITION,
                    lookback_of, upper, 0, outputs, condition,
                )  # fmt: skip
    return functions


def _period_less_one(values: Mapping[str, float]) -> int:
    return int(values["period"]) - 1


def _own(
    name: str,
    doc: str,
    args: tuple[Argument, ...],
    result: Kind = Kind.SERIES,
    lookback_of: Callable[[Mapping[str, float]], int] = _period_less_one,
) -> Function:
    return Function(name, OWN_GROUP, doc, args, result, lookback_of)


_SERIES = Argument("series", ArgKind.SERIES)
_PERIOD = Argument("period", ArgKind.PERIOD, low=1)
_BAND_PERIOD = Argument("period", ArgKind.PERIOD, 20, low=1)
_K = Argument("k", ArgKind.NUMBER, 2)
_CROSSING = (Argument("a", ArgKind.SERIES), Argument("b", ArgKind.SERIES))

_OWN_FUNCTIONS = [
    _own("stdev", "population standard deviation", (_SERIES, _PERIOD)),
    _own("highest", "largest value of the period", (_SERIES, _PERIOD)),
    _own("lowest", "smallest value of the period", (_SERIES, _PERIOD)),
    _own("bb_upper", "middle band + k deviations", (_SERIES, _BAND_PERIOD, _K)),
    _own("bb_middle", "simple average", (_SERIES, _BAND_PERIOD)),
    _own("bb_lower", "middle band - k deviations", (_SERIES, _BAND_PERIOD, _K)),
    _own("crossover", "a crosses above b on this bar", _CROSSING, Kind.CONDITION, lambda v: 1),
    _own("crossunder", "a crosses below b on this bar", _CROSSING, Kind.CONDITION, lambda v: 1),
]

TA_LIB_VERSION: str = _catalogue()["ta_lib_version"]
FUNCTIONS: dict[str, Function] = _talib_functions() | {f.name: f for f in _OWN_FUNCTIONS}
