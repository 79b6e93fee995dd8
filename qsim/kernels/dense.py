"""Dense matrices on 2..5 target bits at (close to) memory speed: the kernel fused blocks run on.

Same conventions as ``qsim.kernels.gates`` (``offsets``, ``fixed``, ``cval``).  The matrix comes
split into its real and imaginary parts (``mre``, ``mim``, in the state's real precision).

A task walks *tiles* of ``_LANES`` base indices.  For each tile it gathers the 2^k amplitudes of
every block into contiguous real and imaginary rows (``xr[b, j]``, ``xi[b, j]``: the amplitude at
``base_j + offsets[b]``), forms the output rows four at a time (two for k = 1) as sums of scaled
input rows (``yr[r] += mre[a + r, b] * xr[b] - mim[a + r, b] * xi[b]``: unit-stride loops that LLVM
turns into packed FMAs; each input row loaded once feeds four outputs, so the loop is bound by the
FMAs, not by loads and stores: 15-25% fewer cycles than one row at a time on the 2-core Zen 3 VM),
and writes them back.  So the arithmetic runs over lanes of the tile whatever the target bits are, and the
state is read as 2^k sequential bursts of a tile each: targets whose partners are far apart (the
top bits of a large state, 256 MiB and more) cost no more than others, because no loop interleaves
two distant streams element by element.

The sums are written with the lane index unsigned (Numba then emits no negative-index wraparound,
which would stop vectorisation) and FMA contraction allowed (``fastmath={'contract'}``: one
rounding per multiply-add instead of two, never less accurate).

What makes LLVM vectorise a Numba loop here (checked with ``njit(cache=False)`` on the body, then
``inspect_asm()``: look for ``vfmadd...pd/ps`` on ``ymm`` registers, not ``vmulsd``/``vfmadd231sd``):

* no complex arithmetic in the loop: work on real and imaginary parts as separate scalars, either
  gathered into planar rows (as here) or on the state's float view (``state.view(mre.dtype)``
  inside the kernel, or ``state.view(np.float64)`` from Python, as ``gates.apply_dense_1`` does);
* every index expression unsigned from end to end: ``np.uint64`` loop variable *and* offsets
  (``a + np.uint64(2) * j``); one signed term (an int64 base, the literal ``2``) makes the whole
  index signed, Numba adds the wraparound select, and the loop stays scalar;
* the rows a loop reads and writes as separate arrays or slices (``f[a:a + 2 * n]``), not one
  array indexed at two offsets: with two slices LLVM checks their overlap once before the loop;
  with one array twice it gave up here (4.4 cycles per amplitude instead of 1.7 for complex64);
* the innermost loop is the lane loop.  LLVM vectorises only innermost loops; a loop over matrix
  columns inside the lane loop is unrolled (and the lane loop then vectorised) only while the
  body stays small (a 4x4 block: yes; 8 columns and more: scalar code, many times slower).  Scratch per task:
(2 x 2^k + 8) tiles of real numbers and one of indices, at most 37 KiB for k = 5 (64 lanes).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange
from numba.extending import register_jitable

from qsim.kernels.gates import _insert_zeros
from qsim.kernels.tiers import OPTS, BySize

_LANES = 64        # base indices per tile: 2^k rows of a tile stay in the first-level cache
_MAX_TASKS = 1024
MAX_TARGETS = 5


def _dense_tiled(state, offsets, fixed, cval, mre, mim):
    """``matrix = mre + i mim`` (2^k x 2^k, big-endian over the targets) on the blocks whose
    ``fixed`` bits other than the targets equal ``cval``."""
    count = state.shape[0] >> fixed.shape[0]
    dim = offsets.shape[0]
    run = np.int64(1) << fixed[0]
    lanes = np.int64(_LANES) if count >= _LANES else count
    ulanes = np.uint64(lanes)
    step = run if run < lanes else lanes
    ntiles = count // lanes
    ntasks = ntiles if ntiles < _MAX_TASKS else np.int64(_MAX_TASKS)
    rows = 4 if dim >= 4 else 2
    for task in prange(ntasks):
        xr = np.empty((dim, lanes), dtype=mre.dtype)
        xi = np.empty((dim, lanes), dtype=mre.dtype)
        yr = np.empty((rows, lanes), dtype=mre.dtype)
        yi = np.empty((rows, lanes), dtype=mre.dtype)
        base = np.empty(lanes, dtype=np.int64)
        for tile in range(task * ntiles // ntasks, (task + 1) * ntiles // ntasks):
            j0 = tile * lanes
            contiguous = run >= lanes
            b0 = _insert_zeros(j0, fixed) | cval
            if not contiguous:
                for r in range(0, lanes, step):
                    s0 = _insert_zeros(j0 + r, fixed) | cval
                    for j in range(step):
                        base[r + j] = s0 + j
            # gather: row b of the tile = amplitudes base_j + offsets[b]
            for b in range(dim):
                o = offsets[b]
                if contiguous:
                    for j in range(lanes):
                        v = state[b0 + o + j]
                        xr[b, j] = v.real
                        xi[b, j] = v.imag
                else:
                    for j in range(lanes):
                        v = state[base[j] + o]
                        xr[b, j] = v.real
                        xi[b, j] = v.imag
            # rows a..a+R-1 of the result = sum over b of m[a+r, b] * row b: each input row loaded
            # once serves R output rows (register blocking), then the R rows are written back
            for a in range(0, dim, rows):
                if rows == 4:
                    _four_rows(xr, xi, yr, yi, mre, mim, a, dim, ulanes)
                else:
                    _two_rows(xr, xi, yr, yi, mre, mim, a, dim, ulanes)
                for r in range(rows):
                    o = offsets[a + r]
                    yrr = yr[r]
                    yir = yi[r]
                    if contiguous:
                        for j in range(lanes):
                            state[b0 + o + j] = complex(yrr[j], yir[j])
                    else:
                        for j in range(lanes):
                            state[base[j] + o] = complex(yrr[j], yir[j])


@register_jitable
def _two_rows(xr, xi, yr, yi, mre, mim, a, dim, ulanes):
    """yr/yi rows 0, 1 = rows a, a+1 of m @ x over the tile's lanes."""
    y0r, y0i, y1r, y1i = yr[0], yi[0], yr[1], yi[1]
    m0r, m0i, m1r, m1i = mre[a, 0], mim[a, 0], mre[a + 1, 0], mim[a + 1, 0]
    pr, pi = xr[0], xi[0]
    for j in range(ulanes):
        p = pr[j]
        q = pi[j]
        y0r[j] = m0r * p - m0i * q
        y0i[j] = m0r * q + m0i * p
        y1r[j] = m1r * p - m1i * q
        y1i[j] = m1r * q + m1i * p
    for b in range(1, dim):
        m0r, m0i, m1r, m1i = mre[a, b], mim[a, b], mre[a + 1, b], mim[a + 1, b]
        pr, pi = xr[b], xi[b]
        for j in range(ulanes):
            p = pr[j]
            q = pi[j]
            y0r[j] += m0r * p - m0i * q
            y0i[j] += m0r * q + m0i * p
            y1r[j] += m1r * p - m1i * q
            y1i[j] += m1r * q + m1i * p


@register_jitable
def _four_rows(xr, xi, yr, yi, mre, mim, a, dim, ulanes):
    """yr/yi rows 0..3 = rows a..a+3 of m @ x over the tile's lanes."""
    y0r, y0i, y1r, y1i = yr[0], yi[0], yr[1], yi[1]
    y2r, y2i, y3r, y3i = yr[2], yi[2], yr[3], yi[3]
    m0r, m0i, m1r, m1i = mre[a, 0], mim[a, 0], mre[a + 1, 0], mim[a + 1, 0]
    m2r, m2i, m3r, m3i = mre[a + 2, 0], mim[a + 2, 0], mre[a + 3, 0], mim[a + 3, 0]
    pr, pi = xr[0], xi[0]
    for j in range(ulanes):
        p = pr[j]
        q = pi[j]
        y0r[j] = m0r * p - m0i * q
        y0i[j] = m0r * q + m0i * p
        y1r[j] = m1r * p - m1i * q
        y1i[j] = m1r * q + m1i * p
        y2r[j] = m2r * p - m2i * q
        y2i[j] = m2r * q + m2i * p
        y3r[j] = m3r * p - m3i * q
        y3i[j] = m3r * q + m3i * p
    for b in range(1, dim):
        m0r, m0i, m1r, m1i = mre[a, b], mim[a, b], mre[a + 1, b], mim[a + 1, b]
        m2r, m2i, m3r, m3i = mre[a + 2, b], mim[a + 2, b], mre[a + 3, b], mim[a + 3, b]
        pr, pi = xr[b], xi[b]
        for j in range(ulanes):
            p = pr[j]
            q = pi[j]
            y0r[j] += m0r * p - m0i * q
            y0i[j] += m0r * q + m0i * p
            y1r[j] += m1r * p - m1i * q
            y1i[j] += m1r * q + m1i * p
            y2r[j] += m2r * p - m2i * q
            y2i[j] += m2r * q + m2i * p
            y3r[j] += m3r * p - m3i * q
            y3i[j] += m3r * q + m3i * p


class _Tiled(BySize):
    """``BySize`` with FMA contraction allowed in the compiled builds."""

    def __init__(self, py_func, name):
        from qsim.kernels.tiers import renamed

        self.py_func = renamed(py_func, name)
        opts = dict(OPTS, fastmath={"contract"})
        self.parallel = njit(parallel=True, **opts)(self.py_func)
        self.serial = njit(**opts)(renamed(py_func, name + "_serial"))
        self.__name__ = name
        self.__doc__ = py_func.__doc__


apply_dense_tiled = _Tiled(_dense_tiled, "apply_dense_tiled")


def split(matrix: np.ndarray, dtype) -> tuple:
    """(real part, imaginary part) of ``matrix`` as contiguous arrays of ``dtype``'s real precision."""
    real = np.float32 if np.dtype(dtype) == np.complex64 else np.float64
    return np.ascontiguousarray(matrix.real, dtype=real), np.ascontiguousarray(matrix.imag, dtype=real)
