"""Portfolios from a terminal: the options that make a backtest run over a basket of
symbols, and how its per-symbol contributions and correlations are shown."""

from __future__ import annotations

import argparse
import re
from typing import Any

from botclub.failures import CommandFailed, ExitCode
from botclub.output import print_table

__all__ = ["add_portfolio_options", "portfolio_block", "show_portfolio"]

_REBALANCE = re.compile(r"^(\d+)(bars|days|weeks)$")


_OPTIONS = (
    ("--portfolio", "SYMBOL,SYMBOL,...", "run over these symbols with one account"),
    ("--weights", "W,W,...", "a portfolio's fixed weights, summing to 1 (equal)"),
    ("--rebalance", "N{bars,days,weeks}", "reset a portfolio's shares, e.g. 20bars (never)"),
)


def add_portfolio_options(command: argparse.ArgumentParser) -> None:
    for flag, metavar, summary in _OPTIONS:
        command.add_argument(flag, metavar=metavar, help=summary)


def portfolio_block(args: argparse.Namespace) -> dict[str, Any] | None:
    """The backtest's `portfolio`, from the options; None without --portfolio."""
    if not args.portfolio:
        if args.weights or args.rebalance:
            raise CommandFailed("--weights and --rebalance need --portfolio", ExitCode.USAGE)
        return None
    block: dict[str, Any] = {"symbols": [s.strip() for s in args.portfolio.split(",") if s.strip()]}
    if args.weights:
        try:
            block["weights"] = [float(weight) for weight in args.weights.split(",")]
        except ValueError:
            raise CommandFailed(
                f"--weights {args.weights!r}: not numbers", ExitCode.USAGE
            ) from None
        block["weighting"] = "fixed"
    if args.rebalance and args.rebalance != "never":
        every = _REBALANCE.fullmatch(args.rebalance)
        if every is None:
            raise CommandFailed(
                f"--rebalance {args.rebalance!r}: say never, or N bars, days or weeks (20bars)",
                ExitCode.USAGE,
            )
        block["rebalance"] = {"every": int(every[1]), "unit": every[2]}
    return block


def show_portfolio(result: dict[str, Any]) -> None:
    """A portfolio's contributions by symbol and the correlations of their returns."""
    part = result.get("portfolio")
    if not part:
        return
    symbols = [share["symbol"] for share in part["symbols"]]
    print(f"\nportfolio of {len(symbols)}, rebalanced {part['rebalances']} times:")
    columns = ("symbol", "weight", "trades", "pnl", "return_contribution")
    rows = [[share[name] for name in columns] for share in part["symbols"]]
    kinds = ("", "weight", "total_trades", "pnl", "return_contribution")
    print_table(["symbol", "weight", "trades", "pnl", "contribution"], rows, kinds)
    print("\ncorrelation of the symbols' returns:")
    print_table(
        ["", *symbols],
        [[name, *row] for name, row in zip(symbols, part["correlation"], strict=True)],
        ["", *(["correlation"] * len(symbols))],
    )
