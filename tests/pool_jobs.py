"""Jobs for the embedded pool's tests, importable by its spawned worker processes: each
notes when it started, in a folder the pool's initializer names."""

from __future__ import annotations

import time
from pathlib import Path

_folder: list[Path] = []


def note_starts_in(folder: str) -> None:
    """The worker's initializer: where its jobs note their starts."""
    _folder.append(Path(folder))


def note_start(execution_id: str) -> bool:
    """Write the start time (ns) to a file named after the execution; nothing left to do."""
    (_folder[0] / execution_id).write_text(str(time.time_ns()))
    time.sleep(0.05)
    return True
