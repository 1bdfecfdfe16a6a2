"""A child process bound to its service leaves as soon as that service is gone, also
when it was started while the service was already dying."""

from __future__ import annotations

import os
import subprocess
import sys
import time

_BOUND = """
import sys, time
from backend_services.child_processes import bind_to_parent
bind_to_parent(int(sys.argv[1]))
time.sleep(30)
"""


def test_a_child_whose_service_is_already_gone_leaves_at_once() -> None:
    gone = 2**22 + 12_345  # no parent of this child has this pid
    started = time.monotonic()

    child = subprocess.run([sys.executable, "-c", _BOUND, str(gone)], timeout=20, check=False)

    assert child.returncode == 0
    assert time.monotonic() - started < 15


def test_a_child_whose_service_lives_stays() -> None:
    child = subprocess.Popen([sys.executable, "-c", _BOUND, str(os.getpid())])
    try:
        time.sleep(3)
        assert child.poll() is None
    finally:
        child.kill()
        child.wait()
