"""One table of how numbers are shown, held by the Python formatter (a unit test) and
the page's (a browser test), so the report, the CLI and the dashboard agree."""

from __future__ import annotations

# (kind, value, text)
CASES: list[tuple[str, float | None, str]] = [
    ("money", 26686.4131, "26,686.41"),
    ("money", -1234567.005, "-1,234,567.00"),  # -1234567.00499... as a double
    ("money", 0.125, "0.13"),
    ("money", -0.001, "0.00"),
    ("money", 0.0, "0.00"),
    ("money", 999.995, "1,000.00"),  # 999.99500...045 as a double
    ("money", None, "n/a"),
    ("money", float("nan"), "n/a"),
    ("percent", 0.6851, "68.51 %"),
    ("percent", -0.0863, "-8.63 %"),
    ("percent", -0.00001, "0.00 %"),
    ("percent", 12.5, "1,250.00 %"),
    ("percent", 0.0, "0.00 %"),
    ("ratio", 1.005, "1.00"),  # 1.00499... as a double
    ("ratio", 0.6851, "0.69"),
    ("ratio", -0.004, "0.00"),
    ("ratio", 12345.678, "12,345.68"),
    ("count", 1234567, "1,234,567"),
    ("count", 12.5, "13"),
    ("count", -0.4, "0"),
    ("duration", 364.25, "364.3 days"),
    ("duration", 0.04, "0.0 days"),
    ("price", 26686.4131, "26,686.41"),
    ("price", 0.012345, "0.0123"),
    ("price", -0.5, "-0.5000"),
    ("price", 0.0, "0.00"),
]
