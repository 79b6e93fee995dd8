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

import numpy as np
from numba import njit, prange

_OPTS = dict(cache=True, nogil=True, fastmath=False, error_model="numpy")


@njit(inline="always", **{k: v for k, v in _OPTS.items() if k != "error_model"})
def _insert_zeros(i, fixed):
    """Spread ``i`` over the bit positions not in ``fixed`` (ascending), leaving those bits 0."""
    for k in range(fixed.shape[0]):
        b = fixed[k]
        low = i & ((np.int64(1) << b) - 1)
        i = ((i >> b) << (b + 1)) | low
    return i


def _chunks(count):
    return min(count, 1024)


# --------------------------------------------------------------------------- dense 1-qubit
@njit(parallel=True, **_OPTS)
def apply_dense_1(state, bit, m00, m01, m10, m11):
    """Uncontrolled 2x2 matrix on ``bit``: the hot path of every circuit."""
    half = np.int64(1) << bit
    blocks = state.shape[0] >> (bit + 1)
    if blocks >= 64:
        for blk in prange(blocks):
            base = blk * 2 * half
            for j in range(half):
                i0 = base + j
                i1 = i0 + half
                a = state[i0]
                b = state[i1]
                state[i0] = m00 * a + m01 * b
                state[i1] = m10 * a + m11 * b
    else:
        # Few, large blocks (a high bit): parallelise inside each block instead.
        for blk in range(blocks):
            base = blk * 2 * half
            for j in prange(half):
                i0 = base + j
                i1 = i0 + half
                a = state[i0]
                b = state[i1]
                state[i0] = m00 * a + m01 * b
                state[i1] = m10 * a + m11 * b


@njit(parallel=True, **_OPTS)
def apply_dense_1_ctrl(state, bit, m00, m01, m10, m11, fixed, cval):
    """2x2 matrix on ``bit`` for the amplitudes whose control bits equal ``cval``."""
    count = state.shape[0] >> fixed.shape[0]
    half = np.int64(1) << bit
    for i in prange(count):
        i0 = _insert_zeros(np.int64(i), fixed) | cval
        i1 = i0 | half
        a = state[i0]
        b = state[i1]
        state[i0] = m00 * a + m01 * b
        state[i1] = m10 * a + m11 * b


# --------------------------------------------------------------------------- dense 2-qubit
@njit(parallel=True, **_OPTS)
def apply_dense_2(state, mat, offsets, fixed, cval):
    """4x4 matrix on two target bits (``offsets`` has 4 entries), with optional controls."""
    count = state.shape[0] >> fixed.shape[0]
    o0, o1, o2, o3 = offsets[0], offsets[1], offsets[2], offsets[3]
    for i in prange(count):
        base = _insert_zeros(np.int64(i), fixed) | cval
        a0 = state[base | o0]
        a1 = state[base | o1]
        a2 = state[base | o2]
        a3 = state[base | o3]
        state[base | o0] = mat[0, 0] * a0 + mat[0, 1] * a1 + mat[0, 2] * a2 + mat[0, 3] * a3
        state[base | o1] = mat[1, 0] * a0 + mat[1, 1] * a1 + mat[1, 2] * a2 + mat[1, 3] * a3
        state[base | o2] = mat[2, 0] * a0 + mat[2, 1] * a1 + mat[2, 2] * a2 + mat[2, 3] * a3
        state[base | o3] = mat[3, 0] * a0 + mat[3, 1] * a1 + mat[3, 2] * a2 + mat[3, 3] * a3


# --------------------------------------------------------------------------- dense k-qubit
@njit(parallel=True, **_OPTS)
def apply_dense_k(state, mat, offsets, fixed, cval):
    """2^k x 2^k matrix on k target bits, any k; scratch of 2 x 2^k amplitudes per chunk."""
    count = state.shape[0] >> fixed.shape[0]
    dim = offsets.shape[0]
    nchunks = min(count, 1024)
    for c in prange(nchunks):
        lo = c * count // nchunks
        hi = (c + 1) * count // nchunks
        vin = np.empty(dim, dtype=state.dtype)
        for i in range(lo, hi):
            base = _insert_zeros(np.int64(i), fixed) | cval
            for a in range(dim):
                vin[a] = state[base | offsets[a]]
            for a in range(dim):
                acc = mat[a, 0] * vin[0]
                for b in range(1, dim):
                    acc += mat[a, b] * vin[b]
                state[base | offsets[a]] = acc


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
    for i in prange(count):
        idx = _insert_zeros(np.int64(i), fixed) | cval
        state[idx] *= phase


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
    for i in prange(count):
        i0 = _insert_zeros(np.int64(i), fixed) | cval
        i1 = i0 | half
        tmp = state[i0]
        state[i0] = state[i1]
        state[i1] = tmp


@njit(parallel=True, **_OPTS)
def apply_swap(state, bit_a, bit_b, fixed, cval):
    """Exchange the values of two bits (swap, cswap): swaps |..1..0..> with |..0..1..>."""
    count = state.shape[0] >> fixed.shape[0]
    ma = np.int64(1) << bit_a
    mb = np.int64(1) << bit_b
    for i in prange(count):
        base = _insert_zeros(np.int64(i), fixed) | cval
        i01 = base | mb
        i10 = base | ma
        tmp = state[i01]
        state[i01] = state[i10]
        state[i10] = tmp


@njit(parallel=True, **_OPTS)
def apply_monomial(state, perm, phases, offsets, fixed, cval):
    """A matrix with one non-zero per row: ``new[a] = phases[a] * old[perm[a]]`` within each block
    (y, iswap, pswap, gpi, ...).  Scratch of 2^k amplitudes per chunk."""
    count = state.shape[0] >> fixed.shape[0]
    dim = offsets.shape[0]
    nchunks = min(count, 1024)
    for c in prange(nchunks):
        lo = c * count // nchunks
        hi = (c + 1) * count // nchunks
        vin = np.empty(dim, dtype=state.dtype)
        for i in range(lo, hi):
            base = _insert_zeros(np.int64(i), fixed) | cval
            for a in range(dim):
                vin[a] = state[base | offsets[a]]
            for a in range(dim):
                state[base | offsets[a]] = phases[a] * vin[perm[a]]


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
