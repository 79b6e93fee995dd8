"""Dense matrices on 2..5 target bits at (close to) memory speed: the kernel fused blocks run on.

Same conventions as ``qsim.kernels.gates`` (``offsets``, ``fixed``, ``cval``).  The matrix comes
split into its real and imaginary parts (``mre``, ``mim``, in the state's real precision).

A task walks *tiles* of ``_LANES`` base indices.  For each tile it gathers the 2^k amplitudes of
every block into contiguous real and imaginary rows (``xr[b, j]``, ``xi[b, j]``: the amplitude at
``base_j + offsets[b]``), forms each output row as a sum of scaled input rows (``yr += mre[a, b] *
xr[b] - mim[a, b] * xi[b]``: unit-stride loops that LLVM turns into packed FMAs), and writes the
row back.  So the arithmetic runs over lanes of the tile whatever the target bits are, and the
state is read as 2^k sequential bursts of a tile each: targets whose partners are far apart (the
top bits of a large state, 256 MiB and more) cost no more than others, because no loop interleaves
two distant streams element by element.

The sums are written with the lane index unsigned (Numba then emits no negative-index wraparound,
which would stop vectorisation) and FMA contraction allowed (``fastmath={'contract'}``: one
rounding per multiply-add instead of two, never less accurate).  Scratch per task:
(2 x 2^k + 2) tiles of real numbers and one of indices, at most 72 KiB for k = 5.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from qsim.kernels.gates import _insert_zeros
from qsim.kernels.tiers import OPTS, BySize

_LANES = 256       # base indices per tile
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
    for task in prange(ntasks):
        xr = np.empty((dim, lanes), dtype=mre.dtype)
        xi = np.empty((dim, lanes), dtype=mre.dtype)
        yr = np.empty(lanes, dtype=mre.dtype)
        yi = np.empty(lanes, dtype=mre.dtype)
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
            # row a of the result = sum over b of m[a, b] * row b, then written back
            for a in range(dim):
                mr = mre[a, 0]
                mi = mim[a, 0]
                xr0 = xr[0]
                xi0 = xi[0]
                for j in range(ulanes):
                    yr[j] = mr * xr0[j] - mi * xi0[j]
                    yi[j] = mr * xi0[j] + mi * xr0[j]
                for b in range(1, dim):
                    mr = mre[a, b]
                    mi = mim[a, b]
                    xrb = xr[b]
                    xib = xi[b]
                    for j in range(ulanes):
                        yr[j] += mr * xrb[j] - mi * xib[j]
                        yi[j] += mr * xib[j] + mi * xrb[j]
                o = offsets[a]
                if contiguous:
                    for j in range(lanes):
                        state[b0 + o + j] = complex(yr[j], yi[j])
                else:
                    for j in range(lanes):
                        state[base[j] + o] = complex(yr[j], yi[j])


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
