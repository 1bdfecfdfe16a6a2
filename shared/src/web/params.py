"""Path parameters both apps take."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path
from pydantic import AfterValidator

from shared.market_data.symbol_names import MAX_SYMBOL_CHARS, SYMBOL_PATTERN, symbol_name

__all__ = ["SymbolPath"]

SymbolPath = Annotated[
    str,
    # The length is checked by `symbol_name`, so a refusal says it in words.
    Path(
        json_schema_extra={
            "pattern": SYMBOL_PATTERN,
            "minLength": 1,
            "maxLength": MAX_SYMBOL_CHARS,
        }
    ),
    AfterValidator(symbol_name),
]
