"""A dense 2-qubit block on bits 0 and 1, block by block: the tiled kernel's slowest placement.

On bits 0 and 1 a block's four amplitudes are contiguous (eight floats), and a tile row of
``qsim.kernels.dense`` (the amplitudes at one target value across the lanes) is strided by four: the
tiled kernel gathers and scatters it one amplitude at a time.  Here each block is read as its eight
floats, multiplied with the sixteen complex matrix entries held as loop-invariant scalars, and
written back in place.  LLVM vectorises the loop over blocks as an interleave group of eight
(``ymm`` FMAs; four blocks per iteration at complex128, eight at complex64), which it does for
groups of up to eight members only: with three or more low targets (16 floats and more per block)
the loop stays scalar, and those placements keep the tiled kernel.

Zen 3, n=24, two threads, ns per amplitude, the tiled kernel's gather -> this (best of 7,
interleaved in one process): complex128 3.20 -> 1.10, complex64 3.89 -> 0.69; one NumPy pass in
another run 1.29 and 0.73.
"""

from __future__ import annotations

import numpy as np
from numba.extending import register_jitable


@register_jitable
def natural_order(mre, mim, offsets):
    """The 4x4 matrix with rows and columns in the order of the amplitudes in memory (position
    ``offsets[b]`` holds matrix index ``b``), as (real, imaginary) arrays of ``mre``'s dtype."""
    are = np.empty((4, 4), dtype=mre.dtype)
    aim = np.empty((4, 4), dtype=mre.dtype)
    for a in range(4):
        for b in range(4):
            are[offsets[a], offsets[b]] = mre[a, b]
            aim[offsets[a], offsets[b]] = mim[a, b]
    return are, aim


@register_jitable
def low_pair_blocks(f, are, aim, first, last):
    """Blocks ``first``..``last``-1 (four amplitudes each, floats 8 i..8 i+7 of the float view
    ``f``) times the matrix ``are + i aim`` in memory order (``natural_order``)."""
    c00 = are[0, 0]; c01 = are[0, 1]; c02 = are[0, 2]; c03 = are[0, 3]
    c10 = are[1, 0]; c11 = are[1, 1]; c12 = are[1, 2]; c13 = are[1, 3]
    c20 = are[2, 0]; c21 = are[2, 1]; c22 = are[2, 2]; c23 = are[2, 3]
    c30 = are[3, 0]; c31 = are[3, 1]; c32 = are[3, 2]; c33 = are[3, 3]
    d00 = aim[0, 0]; d01 = aim[0, 1]; d02 = aim[0, 2]; d03 = aim[0, 3]
    d10 = aim[1, 0]; d11 = aim[1, 1]; d12 = aim[1, 2]; d13 = aim[1, 3]
    d20 = aim[2, 0]; d21 = aim[2, 1]; d22 = aim[2, 2]; d23 = aim[2, 3]
    d30 = aim[3, 0]; d31 = aim[3, 1]; d32 = aim[3, 2]; d33 = aim[3, 3]
    g = f[np.uint64(8) * np.uint64(first):np.uint64(8) * np.uint64(last)]
    for u in range(np.uint64(last - first)):
        a = np.uint64(8) * u
        p0 = g[a]; q0 = g[a + np.uint64(1)]; p1 = g[a + np.uint64(2)]; q1 = g[a + np.uint64(3)]
        p2 = g[a + np.uint64(4)]; q2 = g[a + np.uint64(5)]; p3 = g[a + np.uint64(6)]; q3 = g[a + np.uint64(7)]
        g[a] = c00 * p0 - d00 * q0 + c01 * p1 - d01 * q1 + c02 * p2 - d02 * q2 + c03 * p3 - d03 * q3
        g[a + np.uint64(1)] = c00 * q0 + d00 * p0 + c01 * q1 + d01 * p1 + c02 * q2 + d02 * p2 + c03 * q3 + d03 * p3
        g[a + np.uint64(2)] = c10 * p0 - d10 * q0 + c11 * p1 - d11 * q1 + c12 * p2 - d12 * q2 + c13 * p3 - d13 * q3
        g[a + np.uint64(3)] = c10 * q0 + d10 * p0 + c11 * q1 + d11 * p1 + c12 * q2 + d12 * p2 + c13 * q3 + d13 * p3
        g[a + np.uint64(4)] = c20 * p0 - d20 * q0 + c21 * p1 - d21 * q1 + c22 * p2 - d22 * q2 + c23 * p3 - d23 * q3
        g[a + np.uint64(5)] = c20 * q0 + d20 * p0 + c21 * q1 + d21 * p1 + c22 * q2 + d22 * p2 + c23 * q3 + d23 * p3
        g[a + np.uint64(6)] = c30 * p0 - d30 * q0 + c31 * p1 - d31 * q1 + c32 * p2 - d32 * q2 + c33 * p3 - d33 * q3
        g[a + np.uint64(7)] = c30 * q0 + d30 * p0 + c31 * q1 + d31 * p1 + c32 * q2 + d32 * p2 + c33 * q3 + d33 * p3
