"""A worker's heap, kept for its next run rather than handed back to the system.

A run over a million bars allocates and frees dozens of arrays of 8 MB each. glibc's
malloc gives memory that large back to the system once it is freed (chunks above its
mmap threshold, and a heap top above its trim threshold), so the next run takes a page
fault for every 4 KiB it touches again: about 8,000 faults and a third of a warm
million-bar run (35 ms against 21 ms for the engine alone, `bench/e2e.py --only warm`).
With arrays of up to MMAP_THRESHOLD_BYTES served from the heap and up to
KEEP_FREED_BYTES of freed memory kept, the next run finds its pages mapped. The price:
a worker's resident memory stays near its largest run's between runs.
"""

from __future__ import annotations

import ctypes
import platform

__all__ = ["KEEP_FREED_BYTES", "MMAP_THRESHOLD_BYTES", "keep_freed_memory"]

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 32 << 20  # the largest glibc accepts on 64-bit systems
KEEP_FREED_BYTES = 256 << 20


def keep_freed_memory() -> bool:
    """Tune this process's malloc as above; True when it took (glibc), False where the
    C library is another and nothing changed."""
    if platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(None)
    served_from_heap: int = libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
    kept: int = libc.mallopt(_M_TRIM_THRESHOLD, KEEP_FREED_BYTES)
    return served_from_heap == 1 and kept == 1
