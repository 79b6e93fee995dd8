"""Numba gate kernels: in-place updates of a state vector, pure array code.

Conventions shared by every kernel here:

* ``state`` is a 1-D complex64/complex128 array of length 2^m; amplitude ``i`` is the basis state
  whose bit ``b`` (``(i >> b) & 1``) is the value of the qubit stored at *bit position* ``b``.
  Which qubit lives at which bit position is decided by the caller (``qsim.state``), never here.
* ``fixed`` is the sorted (ascending) int64 array of every bit position a gate pins down (its
  targets and controls); ``cval`` holds the control values at their bit positions (target bits 0).
  A kernel visits only the 2^(m - len(fixed)) "base" indices with those bits zero, ORs in ``cval``,
  and touches the 2^k amplitudes ``base | offsets[a]`` of that block.
* ``offsets[a]`` maps matrix index ``a`` (big-endian over the targets: the first target is the
  matrix's most significant bit) to the bits it sets in the state index.
* Nothing here allocates a state-sized temporary; per-chunk scratch is at most 2^k amplitudes.

Names say the shape: ``apply_<what>[_<arity>]``.  Called only by ``qsim.state.apply``.
"""

from __future__ import annotations

import types

import numpy as np
from numba import njit, prange
from numba.extending import register_jitable

from qsim.launch import launched_under_mpi

_OPTS = dict(cache=True, nogil=True, fastmath=False, error_model="numpy")


@register_jitable
def _insert_zeros(i, fixed):
    """Spread ``i`` over the bit positions not in ``fixed`` (ascending), leaving those bits 0."""
    for k in range(fixed.shape[0]):
        b = fixed[k]
        low = i & ((np.int64(1) << b) - 1)
        i = ((i >> b) << (b + 1)) | low
    return i


def _chunks(count):
    return min(count, 1024)


# Amplitudes (or pairs) per parallel task.  Each task works on contiguous runs of this length at
# most, so LLVM sees simple unit-stride inner loops and the two threads stream through separate
# halves of the state; 2048 complex128 pairs = 64 KiB, large enough that a task costs far more
# than its scheduling.
_TILE = 2048
# Distance (bytes) between the two amplitudes of a pair beyond which apply_dense_1 buffers tiles.
_FAR_BYTES = 1 << 28


@register_jitable
def _run_layout(count, fixed):
    """For a loop over ``count`` base indices with ``fixed`` bits pinned: ``run`` = length of the
    contiguous stretches (the free bits below the lowest fixed bit, capped at ``_TILE``), ``per`` =
    base indices per task (a multiple of ``run``) and the number of tasks.  All powers of two."""
    run = np.int64(1) << fixed[0] if fixed.shape[0] else count
    if run > _TILE:
        run = np.int64(_TILE)
    per = run if run > _TILE else np.int64(_TILE)
    if per > count:
        per = count
    return run, per, count // per


# --------------------------------------------------------------------------- dense 1-qubit
@njit(parallel=True, **_OPTS)
def apply_dense_1(state, bit, m00, m01, m10, m11):
    """Uncontrolled 2x2 matrix on ``bit``: the hot path of every circuit.

    One flat parallel loop over tasks (never a ``prange`` under a serial loop).  For ``bit >= 3`` a
    task is a contiguous run of up to ``_TILE`` pairs ``(i, i + 2^bit)``; for bits 0-2, whose pairs
    sit inside 2-, 4- or 8-amplitude blocks, a task is a stretch of whole blocks, each block's
    pairs written out so the inner loop has unit stride and no trip count of 1 or 2."""
    half = np.int64(1) << bit
    npairs = state.shape[0] >> 1
    if half * state.itemsize >= _FAR_BYTES:
        # Partners at least 256 MiB apart: interleaving the two streams element by element ran at a
        # fifth of the bandwidth here (as Braket's kernel does: DRAM row conflicts, most likely).
        # Each task reads a tile of each half into a buffer (two sequential bursts), then writes.
        ntiles = npairs // _TILE
        nchunks = min(ntiles, 256)
        for c in prange(nchunks):
            abuf = np.empty(_TILE, dtype=state.dtype)
            bbuf = np.empty(_TILE, dtype=state.dtype)
            for t in range(c * ntiles // nchunks, (c + 1) * ntiles // nchunks):
                p = t * _TILE
                i0 = ((p >> bit) << (bit + 1)) | (p & (half - 1))
                i1 = i0 + half
                abuf[:] = state[i0:i0 + _TILE]
                bbuf[:] = state[i1:i1 + _TILE]
                for j in range(_TILE):
                    state[i0 + j] = m00 * abuf[j] + m01 * bbuf[j]
                for j in range(_TILE):
                    state[i1 + j] = m10 * abuf[j] + m11 * bbuf[j]
        return
    if half >= 8:
        run = half if half < _TILE else np.int64(_TILE)
        for t in prange(npairs // run):
            p = t * run
            i0 = ((p >> bit) << (bit + 1)) | (p & (half - 1))
            for i in range(i0, i0 + run):
                a = state[i]
                b = state[i + half]
                state[i] = m00 * a + m01 * b
                state[i + half] = m10 * a + m11 * b
        return
    size = 2 * half                       # amplitudes per block: 2, 4 or 8
    per = np.int64(_TILE) * 2             # amplitudes per task
    if per > state.shape[0]:
        per = state.shape[0]
    for t in prange(state.shape[0] // per):
        lo = t * per
        if half == 1:
            for i in range(lo, lo + per, 2):
                a = state[i]
                b = state[i + 1]
                state[i] = m00 * a + m01 * b
                state[i + 1] = m10 * a + m11 * b
        elif half == 2:
            for i in range(lo, lo + per, 4):
                a0 = state[i]
                a1 = state[i + 1]
                b0 = state[i + 2]
                b1 = state[i + 3]
                state[i] = m00 * a0 + m01 * b0
                state[i + 1] = m00 * a1 + m01 * b1
                state[i + 2] = m10 * a0 + m11 * b0
                state[i + 3] = m10 * a1 + m11 * b1
        else:
            for i in range(lo, lo + per, size):
                for j in range(i, i + 4):
                    a = state[j]
                    b = state[j + 4]
                    state[j] = m00 * a + m01 * b
                    state[j + 4] = m10 * a + m11 * b


@njit(parallel=True, **_OPTS)
def apply_dense_1_ctrl(state, bit, m00, m01, m10, m11, fixed, cval):
    """2x2 matrix on ``bit`` for the amplitudes whose control bits equal ``cval``."""
    count = state.shape[0] >> fixed.shape[0]
    half = np.int64(1) << bit
    run, per, ntasks = _run_layout(count, fixed)
    for t in prange(ntasks):
        for r in range(t * per, (t + 1) * per, run):
            i0 = _insert_zeros(r, fixed) | cval
            for i in range(i0, i0 + run):
                a = state[i]
                b = state[i + half]
                state[i] = m00 * a + m01 * b
                state[i + half] = m10 * a + m11 * b


@njit(parallel=True, **_OPTS)
def apply_diagonal_1(state, bit, d0, d1, fixed, cval):
    """diag(d0, d1) on ``bit`` (rz, phaseshift with both entries != 1, their controlled forms);
    ``fixed`` holds the target and the controls, as for ``apply_dense_1_ctrl``."""
    count = state.shape[0] >> fixed.shape[0]
    half = np.int64(1) << bit
    run, per, ntasks = _run_layout(count, fixed)
    for t in prange(ntasks):
        for r in range(t * per, (t + 1) * per, run):
            i0 = _insert_zeros(r, fixed) | cval
            for i in range(i0, i0 + run):
                state[i] *= d0
                state[i + half] *= d1


# --------------------------------------------------------------------------- dense 2-qubit
@njit(parallel=True, **_OPTS)
def apply_dense_2(state, mat, offsets, fixed, cval):
    """4x4 matrix on two target bits (``offsets`` has 4 entries), with optional controls.  The 16
    entries are read into locals once: in the loop LLVM could not prove they don't alias ``state``."""
    count = state.shape[0] >> fixed.shape[0]
    o1, o2, o3 = offsets[1], offsets[2], offsets[3]
    o0 = offsets[0]
    m00, m01, m02, m03 = mat[0, 0], mat[0, 1], mat[0, 2], mat[0, 3]
    m10, m11, m12, m13 = mat[1, 0], mat[1, 1], mat[1, 2], mat[1, 3]
    m20, m21, m22, m23 = mat[2, 0], mat[2, 1], mat[2, 2], mat[2, 3]
    m30, m31, m32, m33 = mat[3, 0], mat[3, 1], mat[3, 2], mat[3, 3]
    run, per, ntasks = _run_layout(count, fixed)
    if max(o1, o2, o3) * state.itemsize >= _FAR_BYTES and run >= 64:
        # Partners >= 256 MiB apart (see apply_dense_1): buffer each run's four stretches, then write.
        for t in prange(ntasks):
            x = np.empty((4, run), dtype=state.dtype)
            for r in range(t * per, (t + 1) * per, run):
                b0 = (_insert_zeros(r, fixed) | cval) + o0
                x[0, :] = state[b0:b0 + run]
                x[1, :] = state[b0 + o1:b0 + o1 + run]
                x[2, :] = state[b0 + o2:b0 + o2 + run]
                x[3, :] = state[b0 + o3:b0 + o3 + run]
                for j in range(run):
                    state[b0 + j] = m00 * x[0, j] + m01 * x[1, j] + m02 * x[2, j] + m03 * x[3, j]
                for j in range(run):
                    state[b0 + o1 + j] = m10 * x[0, j] + m11 * x[1, j] + m12 * x[2, j] + m13 * x[3, j]
                for j in range(run):
                    state[b0 + o2 + j] = m20 * x[0, j] + m21 * x[1, j] + m22 * x[2, j] + m23 * x[3, j]
                for j in range(run):
                    state[b0 + o3 + j] = m30 * x[0, j] + m31 * x[1, j] + m32 * x[2, j] + m33 * x[3, j]
        return
    for t in prange(ntasks):
        for r in range(t * per, (t + 1) * per, run):
            b0 = (_insert_zeros(r, fixed) | cval) + o0
            for i in range(b0, b0 + run):
                a0 = state[i]
                a1 = state[i + o1]
                a2 = state[i + o2]
                a3 = state[i + o3]
                state[i] = m00 * a0 + m01 * a1 + m02 * a2 + m03 * a3
                state[i + o1] = m10 * a0 + m11 * a1 + m12 * a2 + m13 * a3
                state[i + o2] = m20 * a0 + m21 * a1 + m22 * a2 + m23 * a3
                state[i + o3] = m30 * a0 + m31 * a1 + m32 * a2 + m33 * a3


# --------------------------------------------------------------------------- dense k-qubit
@njit(parallel=True, **_OPTS)
def apply_dense_k(state, mat, offsets, fixed, cval):
    """2^k x 2^k matrix on k target bits, any k; scratch of 2 x 2^k amplitudes per task."""
    count = state.shape[0] >> fixed.shape[0]
    dim = offsets.shape[0]
    run, per, ntasks = _run_layout(count, fixed)
    for t in prange(ntasks):
        vin = np.empty(dim, dtype=state.dtype)
        m = mat.copy()
        for r in range(t * per, (t + 1) * per, run):
            b0 = _insert_zeros(r, fixed) | cval
            for base in range(b0, b0 + run):
                for a in range(dim):
                    vin[a] = state[base + offsets[a]]
                for a in range(dim):
                    acc = m[a, 0] * vin[0]
                    for b in range(1, dim):
                        acc += m[a, b] * vin[b]
                    state[base + offsets[a]] = acc


# --------------------------------------------------------------------------- diagonal
@njit(parallel=True, **_OPTS)
def apply_diagonal(state, diag, target_bits, fixed, cval):
    """Multiply each amplitude by ``diag[a]``, ``a`` read from ``target_bits`` (big-endian)."""
    count = state.shape[0] >> fixed.shape[0]
    k = target_bits.shape[0]
    for i in prange(count):
        idx = _insert_zeros(np.int64(i), fixed) | cval
        a = 0
        for t in range(k):
            a = (a << 1) | ((idx >> target_bits[t]) & 1)
        state[idx] *= diag[a]


@njit(parallel=True, **_OPTS)
def apply_phase(state, phase, fixed, cval):
    """Multiply by ``phase`` the amplitudes whose ``fixed`` bits equal ``cval`` (cz, s, t,
    cphaseshift, controlled gphase...): touches 1/2^len(fixed) of the state."""
    count = state.shape[0] >> fixed.shape[0]
    run, per, ntasks = _run_layout(count, fixed)
    for t in prange(ntasks):
        for r in range(t * per, (t + 1) * per, run):
            i0 = _insert_zeros(r, fixed) | cval
            for i in range(i0, i0 + run):
                state[i] *= phase


@njit(parallel=True, **_OPTS)
def scale(state, factor):
    for i in prange(state.shape[0]):
        state[i] *= factor


# --------------------------------------------------------------------------- permutations
@njit(parallel=True, **_OPTS)
def apply_x(state, bit, fixed, cval):
    """Swap the amplitude pairs that differ in ``bit`` (x, cnot, ccnot, mcx): no arithmetic."""
    count = state.shape[0] >> fixed.shape[0]
    half = np.int64(1) << bit
    run, per, ntasks = _run_layout(count, fixed)
    for t in prange(ntasks):
        for r in range(t * per, (t + 1) * per, run):
            i0 = _insert_zeros(r, fixed) | cval
            for i in range(i0, i0 + run):
                tmp = state[i]
                state[i] = state[i + half]
                state[i + half] = tmp


@njit(parallel=True, **_OPTS)
def apply_swap(state, bit_a, bit_b, fixed, cval):
    """Exchange the values of two bits (swap, cswap): swaps |..1..0..> with |..0..1..>."""
    count = state.shape[0] >> fixed.shape[0]
    ma = np.int64(1) << bit_a
    mb = np.int64(1) << bit_b
    run, per, ntasks = _run_layout(count, fixed)
    for t in prange(ntasks):
        for r in range(t * per, (t + 1) * per, run):
            i0 = _insert_zeros(r, fixed) | cval
            for i in range(i0, i0 + run):
                tmp = state[i + mb]
                state[i + mb] = state[i + ma]
                state[i + ma] = tmp


@njit(parallel=True, **_OPTS)
def apply_monomial(state, perm, phases, offsets, fixed, cval):
    """A matrix with one non-zero per row: ``new[a] = phases[a] * old[perm[a]]`` within each block
    (y, iswap, pswap, gpi, ...).  Scratch of 2^k amplitudes per task."""
    count = state.shape[0] >> fixed.shape[0]
    dim = offsets.shape[0]
    run, per, ntasks = _run_layout(count, fixed)
    for t in prange(ntasks):
        vin = np.empty(dim, dtype=state.dtype)
        for r in range(t * per, (t + 1) * per, run):
            b0 = _insert_zeros(r, fixed) | cval
            for base in range(b0, b0 + run):
                for a in range(dim):
                    vin[a] = state[base + offsets[a]]
                for a in range(dim):
                    state[base + offsets[a]] = phases[a] * vin[perm[a]]


# --------------------------------------------------------------------------- measurement
@njit(parallel=True, **_OPTS)
def project(state, bit, outcome, factor):
    """Zero the amplitudes whose ``bit`` differs from ``outcome``; scale the rest by ``factor``."""
    mask = np.int64(1) << bit
    want = np.int64(outcome) << bit
    for i in prange(state.shape[0]):
        if (i & mask) == want:
            state[i] *= factor
        else:
            state[i] = 0


# --------------------------------------------------------------------------- serial twins
# The same bodies compiled without ``parallel``: ``prange`` is then a plain ``range``.  For a small
# state a parallel region costs more than the work (a few microseconds of fork/join on a quiet
# machine; milliseconds when another process holds the second core and the region must wait for
# it), so ``qsim.state.apply`` calls these below ``PARALLEL_MIN_AMPLITUDES``.  Up to
# ``PYTHON_MAX_AMPLITUDES`` it runs the kernels' plain-Python bodies (``.py_func``; the helpers are
# ``register_jitable``, so they run as Python too): a few dozen amplitudes take microseconds, far
# less than loading compiled kernels from the cache in a fresh process (about a second).
#
# The plain-Python path is for a single process's cold start only.  An MPI rank (detected from the
# launcher's environment, ``qsim.launch.launched_under_mpi``, without importing mpi4py) has
# paid seconds for ``mpirun`` already, and its shards of a small test state would otherwise never
# exercise the compiled kernels the other ranks share through the cache.
PARALLEL_MIN_AMPLITUDES = 1 << 15
PYTHON_MAX_AMPLITUDES = 0 if launched_under_mpi() else 1 << 5


def _serial(kernel):
    # A renamed copy of the Python function, so that Numba's on-disk cache (keyed by qualified name
    # and line, not by the ``parallel`` flag) keeps the serial and parallel builds apart.
    f = kernel.py_func
    code = f.__code__.replace(co_name=f.__name__ + "_serial", co_qualname=f.__qualname__ + "_serial")
    twin = types.FunctionType(code, f.__globals__, code.co_name, f.__defaults__, f.__closure__)
    twin.__qualname__ = code.co_qualname
    twin.__doc__ = f"Serial build of ``{f.__name__}`` (same body; ``prange`` runs as ``range``)."
    return njit(**_OPTS)(twin)


apply_dense_1_serial = _serial(apply_dense_1)
apply_dense_1_ctrl_serial = _serial(apply_dense_1_ctrl)
apply_diagonal_1_serial = _serial(apply_diagonal_1)
apply_dense_2_serial = _serial(apply_dense_2)
apply_dense_k_serial = _serial(apply_dense_k)
apply_diagonal_serial = _serial(apply_diagonal)
apply_phase_serial = _serial(apply_phase)
scale_serial = _serial(scale)
apply_x_serial = _serial(apply_x)
apply_swap_serial = _serial(apply_swap)
apply_monomial_serial = _serial(apply_monomial)
