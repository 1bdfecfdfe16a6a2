"""What a symbol may be called, checked in words (a refusal never shows a pattern)."""

from __future__ import annotations

import re

from pydantic_core import PydanticCustomError

__all__ = ["MAX_SYMBOL_CHARS", "SYMBOL_PATTERN", "symbol_name"]

# Starting with a letter or digit: `-x` reads as an option on a command line, `.x` as a
# hidden file, `_` as nothing at all.
SYMBOL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._\-]*$"
MAX_SYMBOL_CHARS = 32
_SYMBOL = re.compile(SYMBOL_PATTERN)


def symbol_name(name: str) -> str:
    """`name` if it may name a symbol (a pydantic validator)."""
    if len(name) > MAX_SYMBOL_CHARS:
        raise PydanticCustomError(
            "symbol_name", f"a symbol name is at most {MAX_SYMBOL_CHARS} characters long"
        )
    if not _SYMBOL.fullmatch(name):
        raise PydanticCustomError(
            "symbol_name",
            "a symbol name is letters, digits, '.', '_' and '-', starting with a letter "
            "or a digit (e.g. GOOG, EURUSD, BRK.B)",
        )
    return name
