"""Where a running `botclub run` stack can be found: it writes its MongoDB, database and
API addresses to a file in the user's state folder while it runs, so the other commands
find them without being told (an embedded MongoDB listens on a port chosen at start)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from pydantic import BaseModel

__all__ = ["RunningStack", "forget_stack", "running_stack", "stack_file", "write_stack"]


class RunningStack(BaseModel):
    pid: int
    mongo_url: str
    mongo_db: str
    api_url: str


def stack_file() -> Path:
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "botclub" / "stack.json"


def write_stack(stack: RunningStack) -> None:
    path = stack_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(stack.model_dump_json())


def forget_stack(pid: int) -> None:
    """Remove the file if it still describes the stack of process `pid`."""
    stack = running_stack()
    if stack is not None and stack.pid == pid:
        with contextlib.suppress(OSError):
            stack_file().unlink()


def running_stack() -> RunningStack | None:
    """The stack described by the file, if the process that wrote it still runs."""
    try:
        stack = RunningStack.model_validate_json(stack_file().read_text())
    except (OSError, ValueError):
        return None
    try:
        os.kill(stack.pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:  # alive, run by another user
        pass
    return stack
