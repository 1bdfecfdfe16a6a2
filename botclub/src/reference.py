"""`botclub functions [NAME]`: the rule language's reference, as the API gives it."""

from __future__ import annotations

import difflib
from typing import Any

from botclub.api_client import ApiClient
from botclub.failures import CommandFailed, ExitCode
from botclub.member_config import load_config
from botclub.output import print_json, print_table

__all__ = ["functions"]

# The longest signature the list shows whole.
_SIGNATURE_WIDTH = 60


def functions(name: str | None, as_json: bool) -> int:
    """Every function a rule may call, or one of them in full."""
    with ApiClient(load_config()) as api:
        listed: list[dict[str, Any]] = api.get("/api/functions")
    if name is None:
        if as_json:
            print_json(listed)
        else:
            rows = [[_short(f["signature"]), f["result"], f["lookback"], f["doc"]] for f in listed]
            print_table(["signature", "gives", "lookback", "what"], rows)
        return ExitCode.OK
    found = next((function for function in listed if function["name"] == name.lower()), None)
    if found is None:
        close = difflib.get_close_matches(name.lower(), [f["name"] for f in listed], n=3)
        hint = f"did you mean {', '.join(close)}?" if close else "botclub functions lists them"
        raise CommandFailed(f"no function named {name!r}", ExitCode.NOT_FOUND, hint)
    if as_json:
        print_json(found)
    else:
        _describe(found)
    return ExitCode.OK


def _describe(function: dict[str, Any]) -> None:
    print(function["signature"])
    print(f"  {function['doc']} ({function['group']}); gives a {function['result']}")
    if function["ta_lib"]:
        print(f"  TA-Lib: {function['ta_lib']}")
    if len(function["outputs"]) > 1:
        print(f"  one output of {', '.join(function['outputs'])} (computed once for all)")
    if function["lookback"] is not None:
        print(f"  first value after {function['lookback']} bars (with the defaults)")
    rows = [
        [arg["name"], arg["kind"], _default(arg["default"]), _bounds(arg)]
        for arg in function["arguments"]
    ]
    print_table(["argument", "kind", "default", "takes"], rows)


def _short(signature: str) -> str:
    """A signature as the list shows it: a few long ones cut (`functions NAME` has all),
    so the list fits a terminal."""
    return (
        signature
        if len(signature) <= _SIGNATURE_WIDTH
        else signature[: _SIGNATURE_WIDTH - 4] + "...)"
    )


def _default(value: str | float | None) -> str:
    """A default as written in a rule: 14, 0.5, close; "-" when it must be given."""
    if value is None:
        return "-"
    return f"{value:g}" if isinstance(value, int | float) else str(value)


def _bounds(argument: dict[str, Any]) -> str:
    low, high = argument["low"], argument["high"]
    if low is None and high is None:
        return ""
    return f"{'' if low is None else f'{low:g}'}..{'' if high is None else f'{high:g}'}"
