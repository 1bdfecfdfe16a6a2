"""Child processes (backtest workers, the import process) that never outlive their
service, whichever way it dies, and that leave stopping to it.

- The kernel kills the child when its parent dies (Linux's parent-death signal), so a
  service killed with -9 takes its workers with it at once; elsewhere, and should the
  signal be missed, a thread notices the parent gone within a second.
- The child ignores SIGINT: a terminal's Ctrl-C reaches the whole process group, and a
  worker interrupted mid-run would race the service's orderly shutdown of its pool.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

__all__ = ["bind_to_parent"]

_PR_SET_PDEATHSIG = 1
_POLL_S = 1.0


def bind_to_parent(parent: int, niceness: int = 0) -> None:
    """Call first thing in a child process (a pool initializer), with the pid of the
    service that started it, taken in the service: a child started while its service
    was dying has already been handed to another parent when it gets here."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(0)
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()
    if niceness:
        os.nice(niceness)


def _exit_with_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(_POLL_S)
    os._exit(0)
