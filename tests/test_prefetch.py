"""``qsim.kernels.prefetch``: the hint compiles to a prefetch instruction, leaves results alone, and
is refused for arguments that are not an array and an integer index."""

from __future__ import annotations

import platform

import numba
import numpy as np
import pytest
from numba import njit

from qsim.kernels.prefetch import prefetch


@njit(cache=False)
def _sum_with_hints(a, ahead):
    s = a[0] - a[0]
    for i in range(a.shape[0]):
        prefetch(a, i + ahead)   # past the end for the last elements: still only a hint
        s += a[i]
    return s


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex128])
def test_prefetch_leaves_results_alone(dtype):
    a = np.arange(1000).astype(dtype)   # integers: every partial sum exact at either precision
    assert _sum_with_hints(a, 64) == 499500


@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"), reason="x86 mnemonic")
def test_prefetch_emits_prefetcht1():
    _sum_with_hints(np.ones(8), 1)
    asm = _sum_with_hints.inspect_asm(_sum_with_hints.signatures[-1])
    assert "prefetcht1" in asm


def test_prefetch_refuses_a_scalar():
    @njit(cache=False)
    def bad(x):
        prefetch(x, 0)

    with pytest.raises(numba.core.errors.TypingError):
        bad(1.0)
