"""Bounds both services must agree on."""

from __future__ import annotations

__all__ = ["MAX_INLINE_TRADES", "MAX_RESULT_BYTES", "MAX_TRADES_PAGE"]

# A result carries its first trades as models; every trade is read in pages.
MAX_INLINE_TRADES = 1_000
MAX_TRADES_PAGE = 5_000
# A result travels with its first trades; the backend accepts callbacks this large.
MAX_RESULT_BYTES = 64 << 20
