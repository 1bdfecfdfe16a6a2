"""Writes the README's function table from the rule language's catalogue (the one
`GET /api/functions` serves), between its `functions:start` and `functions:end` marks;
tests/unit/test_function_catalogue.py checks the README holds what this writes.

    .venv/bin/python scripts/function_table.py
"""

from __future__ import annotations

import re
from pathlib import Path

from shared.contracts.functions import function_reference

README = Path(__file__).resolve().parent.parent / "README.md"
START, END = "<!-- functions:start -->", "<!-- functions:end -->"


def table() -> str:
    rows = ["| function | gives | lookback | what |", "| --- | --- | --- | --- |"]
    group = ""
    for function in function_reference():
        if function.group != group:
            group = function.group
            rows.append(f"| **{group}** | | | |")
        lookback = "" if function.lookback is None else str(function.lookback)
        doc = function.doc.replace("|", "\\|")
        rows.append(f"| `{function.signature}` | {function.result} | {lookback} | {doc} |")
    return "\n".join(rows)


def with_table(readme: str) -> str:
    """The README's text with its function table replaced by the current one."""
    pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.DOTALL)
    return pattern.sub(lambda _: f"{START}\n{table()}\n{END}", readme)


def main() -> None:
    README.write_text(with_table(README.read_text()))


if __name__ == "__main__":
    main()
