"""The packed program's kernels: a compiled circuit's fused items applied one after another in one
Numba call, on a planar copy of a small state (``qsim.state.packed``: at most 14 qubits, which sit
in the second-level cache, so a block costs its arithmetic, not a trip to memory).

* ``split(state, p)``: ``p[0]`` = real parts, ``p[1]`` = imaginary parts (a (2, 2^n) float array);
* ``apply_blocks(p, ...)``: every block, in order, on the planar ``p``;
* ``join_z(state, p, zsum)``: the amplitudes back into ``state``; with ``zsum`` of length n + 1
  also ``zsum[b]`` = the sum of |amplitude|^2 over the indices with bit b set and ``zsum[n]`` the
  sum over all (so <Z on bit b> = zsum[n] - 2 zsum[b]): the broadcast <Z> without another read.

Why planar: the complex form compiles to scalar code (one ``vmulsd`` per product), and an
interleaved float view needs shuffles; with real and imaginary parts in two arrays, unsigned loop
counters (a signed index adds a negative-index test to every access) and multiply-adds contracted
to FMAs, LLVM vectorises the loop over a run of amplitudes of the one-qubit and x blocks (every
block of a rotation layer with a cnot or cz ladder).  A target on bit 0 or 1 without controls
works on groups of 2 or 4 neighbours at fixed offsets instead, which vectorises across groups.
Dense blocks on 2 and 3 targets stay scalar.  The copy in and out costs two light passes.

Pure array code, serial (a packed state is below the parallel threshold).  ``py_*`` are the plain
Python bodies, which the tests run too.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from qsim.kernels.gates import _insert_zeros as _spread
from qsim.kernels.tiers import CONTRACT_OPTS, OPTS, renamed

# Kinds of a packed program's blocks.
BLOCK_DENSE = 0      # a dense matrix on 3 targets
BLOCK_DENSE_1 = 1    # a dense 2x2 matrix on one target
BLOCK_X = 2          # x on one target (a swap of the pair; no arithmetic)
BLOCK_DENSE_2 = 3    # a dense 4x4 matrix on two targets
BLOCK_PERM = 4       # a permutation of the amplitudes: new[i] = old[perms[tbits[b, 0], i]]
PACKED_MAX_TARGETS = 3

_ONE, _TWO, _THREE, _FOUR = np.uint64(1), np.uint64(2), np.uint64(3), np.uint64(4)


def _split(state, p):
    for i in range(np.uint64(state.shape[0])):
        x = state[i]
        p[0, i] = x.real
        p[1, i] = x.imag


def _join_z(state, p, zsum):
    """The amplitudes back into ``state``; if ``zsum`` (length n + 1) is not empty, also
    ``zsum[b]`` = the sum of |amplitude|^2 over the indices with bit b set, for b < n, and
    ``zsum[n]`` the sum over all.  The sums fold the probabilities in half bit by bit, from the
    top (2^n additions in all), in ``p[0]`` (free once the amplitudes are back)."""
    size = state.shape[0]
    for i in range(np.uint64(size)):
        state[i] = complex(p[0, i], p[1, i])
    if zsum.shape[0] == 0:
        return
    w = p[0]
    for i in range(np.uint64(size)):
        w[i] = w[i] * w[i] + p[1, i] * p[1, i]
    half = np.uint64(size)
    for b in range(zsum.shape[0] - 2, -1, -1):
        half = half >> _ONE
        s = 0.0
        for j in range(half):
            s += w[half + j]
        zsum[b] = s
        for j in range(half):
            w[j] += w[half + j]
    zsum[zsum.shape[0] - 1] = w[0]


def _apply_blocks(p, scratch, perms, kinds, tbits, ntargets, fixed, nfixed, cvals, mats):
    """Apply every block of a packed program in order to the planar state ``p``.  Block ``b`` has
    kind ``kinds[b]``, targets at bit positions ``tbits[b, :ntargets[b]]`` (the first is the most
    significant bit of its matrix index), ``fixed[b, :nfixed[b]]`` (ascending) the bit positions of
    its targets and controls, ``cvals[b]`` its control values at their positions and complex matrix
    ``mats[b, :d, :d]`` (d = 2^ntargets[b]).  A permutation block (several x blocks in a row,
    ``qsim.state.packed``) gathers into ``scratch`` (same shape as ``p``) and copies back."""
    size = p.shape[1]
    re = p[0]
    im = p[1]
    offs = np.zeros(1 << PACKED_MAX_TARGETS, dtype=np.int64)
    xr = np.zeros(1 << PACKED_MAX_TARGETS, dtype=p.dtype)
    xi = np.zeros(1 << PACKED_MAX_TARGETS, dtype=p.dtype)
    for b in range(kinds.shape[0]):
        kind = kinds[b]
        fx = fixed[b, :nfixed[b]]
        cval = cvals[b]
        count = size >> nfixed[b]
        run = np.int64(1) << fx[0]
        m = mats[b]
        if kind == BLOCK_PERM:
            perm = perms[tbits[b, 0]]
            s0 = scratch[0]
            s1 = scratch[1]
            for i in range(np.uint64(size)):
                k = np.uint64(perm[i])
                s0[i] = re[k]
                s1[i] = im[k]
            for i in range(np.uint64(size)):
                re[i] = s0[i]
                im[i] = s1[i]
        elif kind == BLOCK_X:
            o = np.int64(1) << tbits[b, 0]
            for r in range(0, count, run):
                i0 = _spread(r, fx) | cval
                a = np.uint64(i0)
                c = np.uint64(i0 + o)
                for j in range(np.uint64(run)):
                    x = re[a + j]
                    re[a + j] = re[c + j]
                    re[c + j] = x
                    y = im[a + j]
                    im[a + j] = im[c + j]
                    im[c + j] = y
        elif kind == BLOCK_DENSE_1:
            t = tbits[b, 0]
            o = np.int64(1) << t
            m00r, m00i, m01r, m01i = m[0, 0].real, m[0, 0].imag, m[0, 1].real, m[0, 1].imag
            m10r, m10i, m11r, m11i = m[1, 0].real, m[1, 0].imag, m[1, 1].real, m[1, 1].imag
            if nfixed[b] == 1 and t == 0:  # neighbours: pairs (2g, 2g + 1)
                for g in range(np.uint64(size >> 1)):
                    a = _TWO * g
                    ar = re[a]
                    ai = im[a]
                    yr = re[a + _ONE]
                    yi = im[a + _ONE]
                    re[a] = m00r * ar - m00i * ai + m01r * yr - m01i * yi
                    im[a] = m00r * ai + m00i * ar + m01r * yi + m01i * yr
                    re[a + _ONE] = m10r * ar - m10i * ai + m11r * yr - m11i * yi
                    im[a + _ONE] = m10r * ai + m10i * ar + m11r * yi + m11i * yr
            elif nfixed[b] == 1 and t == 1:  # groups of 4 neighbours: (4g, 4g + 2), (4g + 1, 4g + 3)
                for g in range(np.uint64(size >> 2)):
                    a = _FOUR * g
                    ar = re[a]
                    ai = im[a]
                    yr = re[a + _TWO]
                    yi = im[a + _TWO]
                    re[a] = m00r * ar - m00i * ai + m01r * yr - m01i * yi
                    im[a] = m00r * ai + m00i * ar + m01r * yi + m01i * yr
                    re[a + _TWO] = m10r * ar - m10i * ai + m11r * yr - m11i * yi
                    im[a + _TWO] = m10r * ai + m10i * ar + m11r * yi + m11i * yr
                    ar = re[a + _ONE]
                    ai = im[a + _ONE]
                    yr = re[a + _THREE]
                    yi = im[a + _THREE]
                    re[a + _ONE] = m00r * ar - m00i * ai + m01r * yr - m01i * yi
                    im[a + _ONE] = m00r * ai + m00i * ar + m01r * yi + m01i * yr
                    re[a + _THREE] = m10r * ar - m10i * ai + m11r * yr - m11i * yi
                    im[a + _THREE] = m10r * ai + m10i * ar + m11r * yi + m11i * yr
            else:
                for r in range(0, count, run):
                    i0 = _spread(r, fx) | cval
                    a = np.uint64(i0)
                    c = np.uint64(i0 + o)
                    for j in range(np.uint64(run)):
                        ar = re[a + j]
                        ai = im[a + j]
                        yr = re[c + j]
                        yi = im[c + j]
                        re[a + j] = m00r * ar - m00i * ai + m01r * yr - m01i * yi
                        im[a + j] = m00r * ai + m00i * ar + m01r * yi + m01i * yr
                        re[c + j] = m10r * ar - m10i * ai + m11r * yr - m11i * yi
                        im[c + j] = m10r * ai + m10i * ar + m11r * yi + m11i * yr
        else:  # dense on 2 or 3 targets: gather, multiply, scatter
            k = ntargets[b]
            dim = np.int64(1) << k
            for a in range(dim):
                o = np.int64(0)
                for j in range(k):
                    if (a >> (k - 1 - j)) & 1:
                        o |= np.int64(1) << tbits[b, j]
                offs[a] = o
            for r in range(0, count, run):
                i0 = _spread(r, fx) | cval
                for t in range(i0, i0 + run):
                    for a in range(dim):
                        xr[a] = re[t + offs[a]]
                        xi[a] = im[t + offs[a]]
                    for a in range(dim):
                        sr = 0.0
                        si = 0.0
                        for c in range(dim):
                            mr = m[a, c].real
                            mi = m[a, c].imag
                            sr += mr * xr[c] - mi * xi[c]
                            si += mr * xi[c] + mi * xr[c]
                        re[t + offs[a]] = sr
                        im[t + offs[a]] = si


def _copy_matrices(mats, slots, source, index):
    """mats[slots[k]] = the top-left d x d of source[index[k]] (d = mats.shape[1]), in ``mats``'s
    precision: the changed matrices of a call, gathered into the program's array."""
    d = mats.shape[1]
    for k in range(slots.shape[0]):
        for i in range(d):
            for j in range(d):
                mats[slots[k], i, j] = source[index[k], i, j]


copy_matrices = njit(**OPTS)(renamed(_copy_matrices, "packed_copy_matrices"))
py_split = renamed(_split, "packed_split_py")
py_join_z = renamed(_join_z, "packed_join_z_py")
py_apply_blocks = renamed(_apply_blocks, "packed_apply_blocks_py")
split = njit(**CONTRACT_OPTS)(renamed(_split, "packed_split"))
# the sums may be reassociated (vectorised partial sums): the order is fixed per build, not per call
join_z = njit(**dict(CONTRACT_OPTS, fastmath={"contract", "reassoc"}))(renamed(_join_z, "packed_join_z"))
apply_blocks = njit(**CONTRACT_OPTS)(renamed(_apply_blocks, "packed_apply_blocks"))
