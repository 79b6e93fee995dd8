"""Compare two state arrays without temporaries (used to merge equal measurement branches)."""

from __future__ import annotations

from numba import prange

from qsim.kernels.tiers import by_size


@by_size
def distance_squared(a, b, phase_a, phase_b):
    """sum_i |phase_a * a[i] - phase_b * b[i]|^2, accumulated in float64 (a += reduction: Numba's
    prange does not reduce an ``if d > worst`` maximum safely)."""
    total = 0.0
    for i in prange(a.shape[0]):
        d = phase_a * a[i] - phase_b * b[i]
        total += d.real * d.real + d.imag * d.imag
    return total
