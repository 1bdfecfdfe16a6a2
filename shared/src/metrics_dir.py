"""Where a process tree's Prometheus metrics meet: a folder every process of the tree
writes its counters to (prometheus_client's multiprocess mode), so that /metrics on a
service or a worker counts the runs of the pool processes it started.

Kept apart from `shared.metrics`: the folder must be chosen before prometheus_client
is first imported in the process, which importing that module would do.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

__all__ = ["METRICS_DIR_VARIABLE", "share_metrics_with_children"]

METRICS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def share_metrics_with_children() -> None:
    """Call first thing in a process's entry point. Unless the environment names a folder
    already, make a fresh one, for this process and every process it starts; removed
    when this process exits."""
    if os.environ.get(METRICS_DIR_VARIABLE):
        return
    folder = tempfile.mkdtemp(prefix="botclub-metrics-")
    os.environ[METRICS_DIR_VARIABLE] = folder
    owner = os.getpid()

    def remove() -> None:
        if os.getpid() == owner:  # not in a forked child that inherited the hook
            shutil.rmtree(folder, ignore_errors=True)

    atexit.register(remove)
