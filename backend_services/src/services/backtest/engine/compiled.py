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
from fractions import Fraction
from typing import Any, TypeVar, cast

import numba
from numba import types
from numba.extending import intrinsic

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


def _fused_multiply_add_exactly(a: float, b: float, c: float) -> float:
    """a * b + c rounded once, in plain Python (for NUMBA_DISABLE_JIT=1)."""
    return float(Fraction(a) * Fraction(b) + Fraction(c))


@intrinsic
def _fused_multiply_add_instruction(typing_context: Any, a: Any, b: Any, c: Any) -> Any:
    def generate(context: Any, builder: Any, signature: Any, arguments: Any) -> Any:
        return builder.fma(*arguments)

    return types.float64(types.float64, types.float64, types.float64), generate


# a * b + c rounded once: the processor's FMA instruction where it has one (else the C
# library's fma, as exact and slower). It makes a product's rounding error one
# operation: fused_multiply_add(a, b, -(a * b)) is exactly a * b - round(a * b).
fused_multiply_add = cast(
    Callable[[float, float, float], float],
    _fused_multiply_add_exactly
    if getattr(numba.config, "DISABLE_JIT", False)
    else _fused_multiply_add_instruction,
)
