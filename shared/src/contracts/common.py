"""What every wire model shares: identifiers, text, bounds, UTC times, the base model.

Fractions are plain floats (0.05 means 5 %), times are timezone-aware UTC datetimes,
money is in the quote currency of the symbol.
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, Strict

from shared.market_data.symbol_names import MAX_SYMBOL_CHARS, SYMBOL_PATTERN, symbol_name

__all__ = [
    "EARLIEST_DATE",
    "LATEST_DATE",
    "MAX_CAPITAL",
    "MAX_NAME_CHARS",
    "MAX_SYMBOL_CHARS",
    "MIN_CAPITAL",
    "SYMBOL_PATTERN",
    "Capital",
    "Count",
    "Id",
    "InconsistentRequest",
    "Name",
    "Number",
    "Symbol",
    "Text",
    "WireModel",
    "as_utc",
    "plain_name",
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


# Characters that change the direction text is shown in (U+202E shows "txt.exe" as
# "exe.txt"): in a name, they make one name look like another.
_BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
MAX_NAME_CHARS = 100


def plain_name(name: str) -> str:
    """`name` if a person can read it as it is stored: no control characters (NUL, line
    breaks, escapes), no characters reversing the text's direction, not blank;
    ValueError saying which otherwise."""
    _storable(name)
    if not name.strip():
        raise ValueError("a name cannot be blank")
    for character in name:
        if unicodedata.category(character) == "Cc":
            raise ValueError(
                f"a name cannot contain control characters (U+{ord(character):04X}), "
                "such as NUL, a tab or a line break"
            )
        if character in _BIDI_CONTROLS:
            raise ValueError(
                f"a name cannot contain characters that reverse the text's direction "
                f"(U+{ord(character):04X})"
            )
    return name


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
# What a member names: a strategy, themselves, a token.
Name = Annotated[str, Field(min_length=1, max_length=MAX_NAME_CHARS), AfterValidator(plain_name)]

Count = Annotated[int, Field(ge=0, le=10**12)]
# A number a client sends: an integer or a float, never a string or a boolean.
Number = Annotated[float, Strict()]
# A backtest's starting cash, in the quote currency: from one unit (below it, positions
# and fees lose every digit that matters) to a trillion.
MIN_CAPITAL = 1.0
MAX_CAPITAL = 1e12
Capital = Annotated[Number, Field(ge=MIN_CAPITAL, le=MAX_CAPITAL)]
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
