"""Writes shared/src/rules/talib_functions.json from the installed TA-Lib's own abstract
API: each function's group, one line of doc, inputs, arguments (kind, default, bounds),
outputs, and its lookback as a linear formula of its periods where it is one (the others
are written out in shared/src/rules/lookback.py). shared reads the file and never
imports talib; tests/unit/test_function_catalogue.py checks the file against TA-Lib.

    .venv/bin/python scripts/function_catalogue.py
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any, cast

import talib
from talib import _ta_lib, abstract

# TA-Lib's abstract API, which its type stubs leave out.
_function: Any = cast(Any, abstract).Function
_parameter_info: Any = cast(Any, _ta_lib)._ta_getOptInputParameterInfo

TARGET = Path(__file__).resolve().parent.parent / "shared/src/rules/talib_functions.json"
_INTEGER_RANGE, _INTEGER_LIST = 2, 3
_SAMPLES = 40
# Bounds of number arguments, as TA-Lib checks them: the first of these it accepts;
# TA-Lib's +-3e37 means no bound (None).
_LOWS = (-3e37, -1.0, 0.0, 0.01)
_HIGHS = (3e37, 100.0, 1.0, 0.99)


def lookback(name: str, values: dict[str, Any]) -> int:
    function = _function(name)
    function.set_parameters(values)
    return int(function.lookback)


def parameters(name: str) -> list[dict[str, Any]]:
    defaults = _function(name).info["parameters"]
    described = []
    for index, (parameter, default) in enumerate(defaults.items()):
        kind = _parameter_info(name.encode(), index)["type"]
        entry: dict[str, Any] = {"name": parameter, "default": default}
        if kind == _INTEGER_LIST:
            entry["kind"] = "ma_type"
        elif kind == _INTEGER_RANGE:
            entry["kind"] = "period"
            entry["low"] = next(
                value for value in range(1, 10) if lookback(name, {parameter: value}) >= 0
            )
        else:
            entry["kind"] = "number"
            entry["low"] = _bound(name, parameter, _LOWS)
            entry["high"] = _bound(name, parameter, _HIGHS)
        described.append(entry)
    return described


def _bound(name: str, parameter: str, candidates: tuple[float, ...]) -> float | None:
    bound = next(value for value in candidates if lookback(name, {parameter: value}) >= 0)
    return None if abs(bound) == 3e37 else bound


def linear_lookback(name: str, described: list[dict[str, Any]]) -> dict[str, Any] | None:
    """{constant, per period} when the lookback is that linear formula of the periods
    (checked on random periods) and no moving-average type is involved; else None."""
    periods = [entry["name"] for entry in described if entry["kind"] == "period"]
    if any(entry["kind"] == "ma_type" for entry in described):
        return None
    base = {period: 10 for period in periods}
    at_base = lookback(name, base)
    per = {period: lookback(name, base | {period: 11}) - at_base for period in periods}
    constant = at_base - 10 * sum(per.values())
    generator = random.Random(name)
    for _ in range(_SAMPLES):
        values = {
            entry["name"]: generator.choice([entry["low"], generator.randint(entry["low"], 200)])
            for entry in described
            if entry["kind"] == "period"
        }
        if lookback(name, values) != constant + sum(per[p] * values[p] for p in periods):
            return None
    return {"constant": constant, "per": {period: c for period, c in per.items() if c}}


def describe(name: str) -> dict[str, Any]:
    info = _function(name).info
    inputs: list[str] = []
    for names in info["input_names"].values():
        inputs.extend([names] if isinstance(names, str) else names)
    described = parameters(name)
    return {
        "group": info["group"],
        "doc": info["display_name"],
        "inputs": inputs,
        "arguments": described,
        "outputs": list(info["output_names"]),
        "candlestick": "Output is a candlestick" in info["function_flags"],
        "lookback": linear_lookback(name, described),
    }


def catalogue() -> dict[str, Any]:
    names: list[str] = cast(Any, talib).get_functions()
    return {
        "ta_lib_version": talib.__version__,
        "functions": {name: describe(name) for name in sorted(names)},
    }


def main() -> None:
    described = catalogue()
    TARGET.write_text(json.dumps(described, indent=1) + "\n")
    print(f"{len(described['functions'])} functions written to {TARGET}")


if __name__ == "__main__":
    main()
