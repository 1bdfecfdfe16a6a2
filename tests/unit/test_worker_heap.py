"""A worker keeps the memory its run freed for the next run: touching large arrays
again costs no page faults (glibc only; elsewhere malloc is left as it is)."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

# Twenty arrays of 8 MB (a million-bar run's temporaries) allocated, touched and freed
# twice; the page faults of the second round are printed.
_ROUNDS = """
import resource, sys
import numpy as np
from backend_services.services.backtest.execution.worker_heap import keep_freed_memory
print(keep_freed_memory() if sys.argv[1] == "kept" else "default")
def one_round():
    arrays = [np.ones(1_000_000) for _ in range(20)]
    del arrays
one_round()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
one_round()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""
_PAGES_TOUCHED = 20 * 8_000_000 // 4096


def _second_round_faults(mode: str) -> tuple[str, int]:
    command = [sys.executable, "-c", _ROUNDS, mode]
    child = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)
    took, faults = child.stdout.split()
    return took, int(faults)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="tunes glibc's malloc only")
def test_memory_freed_by_a_run_serves_the_next_without_page_faults() -> None:
    took, faults = _second_round_faults("kept")

    assert took == "True"
    assert faults < _PAGES_TOUCHED // 100


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="tunes glibc's malloc only")
def test_left_as_it_is_the_next_run_faults_its_pages_in_again() -> None:
    """What `keep_freed_memory` is for: without it, most pages fault in again."""
    _, faults = _second_round_faults("default")

    assert faults > _PAGES_TOUCHED // 10
