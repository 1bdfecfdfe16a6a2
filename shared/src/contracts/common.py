"""What every wire model shares: identifiers, text, bounds, UTC times, the base model.

Fractions are plain floats (0.05 means 5 %), times are timezone-aware UTC datetimes,
money is in the quote currency of the symbol.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, Strict

from shared.market_data.symbol_names import MAX_SYMBOL_CHARS, SYMBOL_PATTERN, symbol_name

__all__ = [
    "EARLIEST_DATE",
    "LATEST_DATE",
    "MAX_CAPITAL",
    "MAX_SYMBOL_CHARS",
    "SYMBOL_PATTERN",
    "Count",
    "Id",
    "InconsistentRequest",
    "Number",
    "Symbol",
    "Text",
    "WireModel",
    "as_utc",
    "utc_now",
]


class InconsistentRequest(ValueError):
    """Fields that are each valid but do not fit together (an override naming a parameter
    the strategy lacks, a sweep the rules cannot run); `field` names where to look."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _storable(text: str) -> str:
    """BSON stores UTF-8: a lone surrogate (valid in JSON escapes) cannot be stored."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text must be valid Unicode (no lone surrogates)") from None
    return text


Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")]
# A client's own request id is used as given when it looks like one (a uuid, a trace id).
REQUEST_ID_PATTERN = r"^[A-Za-z0-9._:\-]{1,128}$"
RequestId = Annotated[str, Field(pattern=REQUEST_ID_PATTERN)]
Symbol = Annotated[
    str,
    Field(min_length=1, max_length=MAX_SYMBOL_CHARS, json_schema_extra={"pattern": SYMBOL_PATTERN}),
    AfterValidator(symbol_name),
]
Text = Annotated[str, Field(max_length=2_000), AfterValidator(_storable)]

Count = Annotated[int, Field(ge=0, le=10**12)]
# A number a client sends: an integer or a float, never a string or a boolean.
Number = Annotated[float, Strict()]
MAX_CAPITAL = 1e12
EARLIEST_DATE = datetime(1900, 1, 1, tzinfo=UTC)
LATEST_DATE = datetime(2200, 1, 1, tzinfo=UTC)


def as_utc(moment: datetime) -> datetime:
    """Read a naive datetime as UTC and convert an aware one to UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


class WireModel(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


def utc_now() -> datetime:
    """The current UTC time at millisecond precision, the precision BSON stores."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)
