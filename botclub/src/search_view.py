"""`botclub optimize` beyond the grid: the ranges a random or TPE search draws from, and
the lines that say how the search went and how likely its winner is to be luck."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from botclub.failures import CommandFailed, ExitCode
from botclub.numbers import shown

__all__ = ["parse_ranges", "search_lines", "sweep_of"]

# Above this Deflated Sharpe Ratio a winner is unlikely to be luck; at or above this PBO
# the in-sample winner is no better than a coin toss out of sample.
TRUSTED_DSR = 0.95
COIN_TOSS_PBO = 0.5


def sweep_of(
    grid: dict[str, list[float | int]],
    ranges: Sequence[str],
    options: dict[str, Any],
) -> dict[str, Any]:
    """The sweep a member asked for: the grid, the ranges parsed, and the options given
    (method, trials, seed, constraint, objective) that are set."""
    sweep: dict[str, Any] = {"grid": grid} if grid else {}
    if ranges:
        sweep["ranges"] = parse_ranges(ranges)
    return sweep | {name: value for name, value in options.items() if value is not None}


def parse_ranges(specs: Sequence[str]) -> dict[str, dict[str, Any]]:
    """`fast=2:50` (whole numbers), `stop=0.01:0.2` (any number between) or
    `stop=0.01:0.2:0.01` (in steps) per parameter: a range of whole numbers when no
    part is written with a decimal point."""
    ranges: dict[str, dict[str, Any]] = {}
    for spec in specs:
        name, _, text = spec.partition("=")
        parts = text.split(":")
        if not name or len(parts) not in (2, 3):
            raise CommandFailed(
                f"expected NAME=LOW:HIGH or NAME=LOW:HIGH:STEP, got {spec!r}", ExitCode.USAGE
            )
        try:
            numbers = [float(part) for part in parts]
        except ValueError:
            raise CommandFailed(
                f"{spec!r}: LOW, HIGH and STEP are numbers", ExitCode.USAGE
            ) from None
        whole = not any("." in part or "e" in part.lower() for part in parts)
        span: dict[str, Any] = {"low": numbers[0], "high": numbers[1], "integer": whole}
        if len(numbers) == 3:
            span["step"] = numbers[2]
        ranges[name.strip()] = {
            key: int(value) if whole and key != "integer" else value for key, value in span.items()
        }
    return ranges


def search_lines(optimization: dict[str, Any]) -> list[str]:
    """How the sweep went, and its winner's Deflated Sharpe Ratio and PBO in words."""
    method = optimization.get("method", "grid")
    trials = optimization.get("trial_objectives")
    lines = [f"method {method}: {optimization['combinations']} combinations run"]
    if optimization["excluded"]:
        lines[0] += f", {optimization['excluded']} left out by the constraint"
    if trials:
        defined = [(value, k) for k, value in enumerate(trials, start=1) if value is not None]
        if defined:
            best, at = max(defined, key=lambda pair: (pair[0], -pair[1]))
            lines[0] += f"; the best ({shown('ratio', best)}) found at trial {at} of {len(trials)}"
    dsr, pbo = optimization.get("deflated_sharpe"), optimization.get("pbo")
    if dsr is not None:
        verdict = "unlikely to be luck" if dsr["value"] > TRUSTED_DSR else "may well be luck"
        lines.append(
            f"deflated Sharpe ratio {_percent(dsr['value'])}: the chance the best beats "
            f"the luckiest of {dsr['trials']} trials ({verdict}; trust above "
            f"{_percent(TRUSTED_DSR)})"
        )
    if pbo is not None:
        verdict = "overfit" if pbo["value"] >= COIN_TOSS_PBO else "holds up more often than not"
        lines.append(
            f"probability of backtest overfitting {_percent(pbo['value'])}: how often the "
            f"best on half the bars is below the median on the other half ({verdict})"
        )
    return lines


def _percent(value: float) -> str:
    return shown("percent", value)
