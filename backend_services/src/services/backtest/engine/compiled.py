"""Compiling the few loops over every bar that numpy cannot make fast: a running sum or
a running peak is one sequential pass, which numpy either does slowly (its accumulate
is not unrolled) or only through several whole-array temporaries.

Each compiled function is plain Python over numpy arrays, so it reads (and can be run
uncompiled, with NUMBA_DISABLE_JIT=1) like any other. numba compiles it on first use and
caches the machine code on disk: only the first process on a machine pays the compile
time (bench/engine.py reports it); the others load it in milliseconds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import numba

Function = TypeVar("Function", bound=Callable[..., Any])


def compiled(function: Function) -> Function:
    """`function` compiled to machine code; it releases the GIL while it runs."""
    return cast(Function, numba.njit(cache=True, nogil=True)(function))


def inlined(function: Function) -> Function:
    """A small compiled helper that is written into each compiled caller, so that its
    arithmetic is optimised with the caller's loop (and costs no call)."""
    return cast(Function, numba.njit(cache=True, nogil=True, inline="always")(function))


@inlined
def compensated_add(total: float, low: float, value: float) -> tuple[float, float]:
    """total + value, the rounding error of the addition kept in `low` (Knuth's
    two-sum): a long sum of total + low is as precise as a short one."""
    rounded = total + value
    value_part = rounded - total
    return rounded, low + ((total - (rounded - value_part)) + (value - value_part))
