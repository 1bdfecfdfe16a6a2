"""Path parameters both apps take."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path
from pydantic import AfterValidator

from shared.market_data.symbol_names import MAX_SYMBOL_CHARS, SYMBOL_PATTERN, symbol_name

__all__ = ["SymbolPath"]

SymbolPath = Annotated[
    str,
    Path(min_length=1, max_length=MAX_SYMBOL_CHARS, json_schema_extra={"pattern": SYMBOL_PATTERN}),
    AfterValidator(symbol_name),
]
