"""`botclub optimize --walk-forward`: the windows asked for, and the windows table shown."""

from __future__ import annotations

import re
from typing import Any

from botclub.failures import CommandFailed, ExitCode
from botclub.numbers import shown
from botclub.output import print_table

__all__ = ["parse_windows", "print_walk_forward"]

_LENGTH = r"[1-9][0-9]*[mhdw]?"


def parse_windows(text: str, anchored: bool) -> dict[str, Any]:
    """TRAIN:TEST or TRAIN:TEST:STEP, each a bar count (500) or a duration (365d), as
    the API's `validation` block."""
    if re.fullmatch(f"{_LENGTH}:{_LENGTH}(:{_LENGTH})?", text) is None:
        raise CommandFailed(
            f"--walk-forward {text!r}: expected TRAIN:TEST or TRAIN:TEST:STEP, each a number "
            "of bars (500) or a duration (365d, 12h, 4w)",
            ExitCode.USAGE,
        )
    lengths: list[int | str] = [int(part) if part.isdigit() else part for part in text.split(":")]
    validation: dict[str, Any] = {
        "mode": "anchored" if anchored else "rolling",
        "train": lengths[0],
        "test": lengths[1],
    }
    if len(lengths) == 3:
        validation["step"] = lengths[2]
    return validation


def print_walk_forward(outcome: dict[str, Any]) -> None:
    """The windows: their test range, the parameters their train bars chose and the
    objective in and out of sample; then the walk-forward efficiency."""
    print(f"\n{len(outcome['windows'])} {outcome['mode']} windows by {outcome['objective']}:")
    rows = [
        [
            f"{window['train_start'][:10]} to {window['train_end'][:10]}",
            f"{window['test_start'][:10]} to {window['test_end'][:10]}",
            " ".join(f"{name}={value}" for name, value in window["parameters"].items()),
            window["in_sample"],
            window["out_of_sample"],
            window["out_of_sample_trades"],
        ]
        for window in outcome["windows"]
    ]
    objective = outcome["objective"]
    print_table(
        ["train", "test", "chosen", "in-sample", "out-of-sample", "trades"],
        rows,
        ["", "", "", objective, objective, "total_trades"],
    )
    efficiency = outcome["efficiency"]
    text = (
        "undefined (the in-sample mean is not positive, or the objective grows with time "
        "and the train and test windows differ in length)"
        if efficiency is None
        else shown("ratio", efficiency)
    )
    print(f"walk-forward efficiency: {text}")
    print("\nthe test windows stitched:")
