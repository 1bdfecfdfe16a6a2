"""Where the stack `botclub run` started from a data folder can be found: while it runs,
it keeps its MongoDB, database and API addresses, and its processes' ids, in
`stack.json` inside that folder. A command given the same folder finds that stack and
no other, however many stacks run on the machine (an embedded MongoDB listens on a
port chosen at start, so nothing else could tell)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from pydantic import BaseModel, Field

__all__ = [
    "DEFAULT_DATA_DIR",
    "NoStackRunning",
    "RunningStack",
    "forget_stack",
    "running_stack",
    "stack_file",
    "write_stack",
]

# `botclub run`'s data folder unless told otherwise, relative to where it is started.
DEFAULT_DATA_DIR = Path(".data")


class RunningStack(BaseModel):
    pid: int = Field(description="The `botclub run` process.")
    mongo_url: str
    mongo_db: str
    api_url: str
    processes: dict[str, int] = Field(
        default_factory=dict, description="The pid of each process it runs, by name."
    )


class NoStackRunning(Exception):
    """No stack runs from the folder; the message says what was found there."""


def stack_file(data_dir: Path) -> Path:
    return data_dir.resolve() / "stack.json"


def write_stack(data_dir: Path, stack: RunningStack) -> None:
    """Replaced whole (written aside, then renamed), so a reader never sees half of it."""
    path = stack_file(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    written = path.with_suffix(".json.new")
    written.write_text(stack.model_dump_json(indent=2))
    written.replace(path)


def forget_stack(data_dir: Path, pid: int) -> None:
    """Remove the file if it still describes the stack of process `pid`."""
    with contextlib.suppress(NoStackRunning):
        if running_stack(data_dir).pid == pid:
            with contextlib.suppress(OSError):
                stack_file(data_dir).unlink()


def running_stack(data_dir: Path) -> RunningStack:
    """The stack running from `data_dir`, or NoStackRunning saying why there is none."""
    path = stack_file(data_dir)
    try:
        stack = RunningStack.model_validate_json(path.read_text())
    except FileNotFoundError:
        raise NoStackRunning(f"no stack is running from {path.parent} (no {path})") from None
    except (OSError, ValueError) as error:
        raise NoStackRunning(f"{path} cannot be read: {error}") from None
    try:
        os.kill(stack.pid, 0)
    except ProcessLookupError:
        raise NoStackRunning(
            f"the stack that ran from {path.parent} (pid {stack.pid}) has ended"
        ) from None
    except PermissionError:  # alive, run by another user
        pass
    return stack
