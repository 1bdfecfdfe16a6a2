"""Path parameters both apps take."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

from shared.contracts.common import MAX_SYMBOL_CHARS, SYMBOL_PATTERN

__all__ = ["SymbolPath"]

SymbolPath = Annotated[str, Path(min_length=1, max_length=MAX_SYMBOL_CHARS, pattern=SYMBOL_PATTERN)]
