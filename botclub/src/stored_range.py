"""Dates against the bars a symbol has: a backtest's range is refused naming the stored
range when it lies outside it, rather than with what the defaults made of it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from botclub.api_client import ApiClient
from botclub.failures import CommandFailed, ExitCode

__all__ = ["check_within", "name_the_range"]


def check_within(stored: dict[str, Any], params: dict[str, Any]) -> None:
    """CommandFailed when the start given lies after the symbol's last bar, or the end
    given before its first (`stored`: the symbol as the API lists it)."""
    start, end = _moment(params.get("start_date")), _moment(params.get("end_date"))
    first, last = _moment(stored["first"]), _moment(stored["last"])
    if start and last and start > last:
        said = f"from {params['start_date']}"
    elif end and first and end < first:
        said = f"until {params['end_date']}"
    else:
        return
    raise CommandFailed(
        f"no {stored['symbol']} bars {said}: {_described(stored)}", ExitCode.REFUSED
    )


def name_the_range(api: ApiClient, symbol: str, refused: CommandFailed) -> None:
    """Give a refusal about dates the symbol's stored range as its hint, unless the
    server's message already names it."""
    try:
        stored = api.get(f"/api/market-data/symbols/{symbol}")
    except CommandFailed:
        return  # the refusal itself says what is wrong with the symbol
    if f"{stored['first'][:10]} to {stored['last'][:10]}" not in str(refused):
        refused.hint = _described(stored)


def _described(stored: dict[str, Any]) -> str:
    return (
        f"{stored['symbol']} has {stored['timeframe']} bars from {stored['first'][:10]} "
        f"to {stored['last'][:10]}"
    )


def _moment(text: str | None) -> datetime | None:
    """A date or time as the API reads it (naive: UTC), or None when it is not one
    (the API then says what is wrong with it)."""
    try:
        moment = datetime.fromisoformat(text) if text else None
    except ValueError:
        return None
    if moment is not None and moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment
