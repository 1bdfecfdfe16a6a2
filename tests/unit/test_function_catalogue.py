"""The rule language's function catalogue, kept in shared without TA-Lib, is TA-Lib's:
the file equals what its abstract API describes now, and every lookback equals TA-Lib's
for random arguments, moving-average types included (and -1, as TA-Lib's, for
arguments it refuses together)."""

from __future__ import annotations

import importlib.util
import json
import random
from importlib import resources
from pathlib import Path
from typing import Any, cast

import pytest
import talib
from talib import abstract

from shared.rules.functions import FUNCTIONS, MOVING_AVERAGES, TA_LIB_VERSION, ArgKind

_GENERATOR = Path(__file__).parents[2] / "scripts/function_catalogue.py"


def _generated() -> dict[str, Any]:
    spec = importlib.util.spec_from_file_location("function_catalogue", _GENERATOR)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    catalogue: dict[str, Any] = module.catalogue()
    return catalogue


def test_the_stored_catalogue_is_what_ta_lib_describes() -> None:
    stored = json.loads(
        resources.files("shared.rules").joinpath("talib_functions.json").read_text()
    )

    assert stored == _generated()
    assert talib.__version__ == TA_LIB_VERSION


def test_every_ta_lib_function_has_a_name_for_each_output() -> None:
    names: list[str] = cast(Any, talib).get_functions()
    covered = {function.talib for function in FUNCTIONS.values()}
    outputs = {(f.talib, f.output) for f in FUNCTIONS.values() if f.talib and not f.condition}

    assert covered - {""} == set(names)
    assert len(outputs) == sum(
        len(cast(Any, abstract).Function(name).info["output_names"]) for name in names
    )


@pytest.mark.parametrize("name", sorted({f.talib for f in FUNCTIONS.values() if f.talib}))
def test_every_lookback_is_ta_libs(name: str) -> None:
    function = next(f for f in FUNCTIONS.values() if f.talib == name)
    draw = random.Random(name)
    for _ in range(50):
        values: dict[str, float] = {}
        for arg in function.args:
            if arg.kind is ArgKind.PERIOD:
                low = int(arg.low or 1)
                values[arg.name] = draw.choice([low, low + 1, draw.randint(low, 120)])
            elif arg.kind is ArgKind.MA_TYPE:
                values[arg.name] = draw.choice(list(MOVING_AVERAGES.values()))
        described = cast(Any, abstract).Function(name)
        described.set_parameters(values)
        expected = described.lookback
        given = [0.0 for _ in function.inputs] + [
            values.get(arg.name, arg.default)
            for arg in function.args
            if arg.kind is not ArgKind.SERIES
        ]

        assert function.lookback(given) == expected, values


def test_the_readme_lists_every_function_as_the_catalogue_describes_it() -> None:
    path = Path(__file__).parents[2] / "scripts/function_table.py"
    spec = importlib.util.spec_from_file_location("function_table", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    readme = module.README.read_text()

    assert module.START in readme
    assert module.with_table(readme) == readme
