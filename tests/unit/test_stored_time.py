"""A time field reads as a UTC datetime whichever way the server hands it back: MongoDB
as a datetime, the embedded server (for a time written by `$set`) as its ISO text."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.mongo import stored_time


def test_a_stored_time_reads_as_a_utc_datetime() -> None:
    at = datetime(2026, 3, 1, 12, 30, 15, 123000, tzinfo=UTC)
    assert stored_time(at) == at
    assert stored_time(at.isoformat()) == at
    assert stored_time(at.replace(tzinfo=None)) == at


def test_a_missing_time_reads_as_none() -> None:
    assert stored_time(None) is None
    assert stored_time(42) is None
