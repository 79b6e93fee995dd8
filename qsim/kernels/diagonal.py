"""Numba kernels for diagonals on many qubits: one pass over the state whatever their width.

* ``apply_diagonal_scan(state, lo_bits, lo_index, hi_index, params)``: an explicit diagonal vector
  (fusion's diagonal blocks of up to 10 qubits), its index looked up from two tables.
* ``apply_pivot_phases(f, pbit, u, tre, tim)``: a one-qubit matrix ``u`` on bit ``pbit`` followed by
  a diagonal that is a product of factors on ``{pbit, b}`` and ``{b}`` for any other bits ``b`` (the
  QFT's stage: ``h`` on qubit j then every controlled phase ``cp(j, k)``).  Such a diagonal is, for
  each value ``v`` of the pivot bit, a product of one-bit factors over the other bits, so it splits
  over 8-bit chunks of the index: the phase of amplitude ``i`` is
  ``prod_c T[v, c, (i >> 8c) & 255]``, a few lookups in tables of 256 entries (L1-resident) that
  the caller precomputes (``qsim.state.pivot``) from the factors and the qubits' bit positions.
  ``f`` is the state's float view (real and imaginary parts as separate scalars), ``u`` the
  matrix as 8 reals ``(re m00, im m00, re m01, ...)`` then ``1, 0``, ``tre``/``tim`` the tables' real and
  imaginary parts, shape ``(2, chunks, 256)``; the tables must not depend on the pivot bit.
  Partners 256 MiB apart and more are walked as ``apply_dense_1`` walks them, one side a ring
  chunk ahead of the other (``qsim.kernels.onequbit``, the one home of far partners).

Pure array code, no MPI; called by ``qsim.state.apply`` (the scan) and ``qsim.state.pivot``.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from qsim.kernels.onequbit import far_chunk, pair_blocks, ring_drain, ring_turn
from qsim.kernels.tiers import CONTRACT_OPTS, Contracted, by_size

CHUNK_BITS = 8
CHUNK = 1 << CHUNK_BITS


@by_size
def apply_diagonal_scan(state, lo_bits, lo_index, hi_index, params):
    """``state[i] *= params[0][hi_index[i >> lo_bits] | lo_index[i & (2^lo_bits - 1)]]``: a diagonal on
    any number of targets (fusion's diagonal blocks) in one sequential pass over the state."""
    diag = params[0]
    nlo = np.int64(1) << lo_bits
    for h in prange(state.shape[0] >> lo_bits):
        ah = hi_index[h]
        base = h << lo_bits
        for j in range(nlo):
            state[base + j] *= diag[ah | lo_index[j]]


# The helpers (a task's whole work included) are compiled once per precision, not inlined into each
# build by Numba: the serial and parallel builds are a few lines each, which keeps the kernel's first
# compilation (every user's first QFT of 15+ qubits, and the clean-clone CI, pay it) short.
_helper = njit(**CONTRACT_OPTS)

_PAIRS_PER_TASK = 2048  # pairs per parallel task when the pivot is at bit 8 or above


@_helper
def _hi_product(tre, tim, s, nchunks, v, one, zero):
    """(re, im) of the product of the tables of chunks 1.. at index ``s`` for pivot value ``v``."""
    pr, pi = one, zero
    for c in range(1, nchunks):
        e = (s >> (CHUNK_BITS * c)) & (CHUNK - 1)
        ar, ai = tre[v, c, e], tim[v, c, e]
        pr, pi = pr * ar - pi * ai, pr * ai + pi * ar
    return pr, pi


@_helper
def _weights_row(t, p, n, w):
    """``w`` = the phases of a run of ``n`` pairs, complex numbers stored as floats: the first
    ``2n`` floats for the pairs' first amplitudes (``p[0:2]`` times ``t``'s first row), the next
    ``2n`` for their second ones (``p[2:4]`` times ``t``'s second row)."""
    two = np.uint64(2)
    one = np.uint64(1)
    nn = two * np.uint64(n)
    p0r, p0i, p1r, p1i = p[0], p[1], p[2], p[3]
    for j in range(np.uint64(n)):
        ar = t[two * j]
        ai = t[two * j + one]
        w[two * j] = p0r * ar - p0i * ai
        w[two * j + one] = p0r * ai + p0i * ar
        br = t[nn + two * j]
        bi = t[nn + two * j + one]
        w[nn + two * j] = p1r * br - p1i * bi
        w[nn + two * j + one] = p1r * bi + p1i * br


@_helper
def _run_slices(x, y, n, u, w):
    """Pairs ``(x[j], y[j])``, j < n, of complex numbers stored as floats (two slices of the
    state, so LLVM checks their overlap once per run): ``u`` on each pair, then the phases ``w``
    (``_weights_row``).  Unit-stride, unsigned indices: packed FMAs."""
    u0r, u0i, u1r, u1i = u[0], u[1], u[2], u[3]
    u2r, u2i, u3r, u3i = u[4], u[5], u[6], u[7]
    two = np.uint64(2)
    one = np.uint64(1)
    nn = two * np.uint64(n)
    for j in range(np.uint64(n)):
        ar = x[two * j]
        ai = x[two * j + one]
        br = y[two * j]
        bi = y[two * j + one]
        nr = u0r * ar - u0i * ai + u1r * br - u1i * bi
        ni = u0r * ai + u0i * ar + u1r * bi + u1i * br
        mr = u2r * ar - u2i * ai + u3r * br - u3i * bi
        mi = u2r * ai + u2i * ar + u3r * bi + u3i * br
        w0r = w[two * j]
        w0i = w[two * j + one]
        w1r = w[nn + two * j]
        w1i = w[nn + two * j + one]
        x[two * j] = nr * w0r - ni * w0i
        x[two * j + one] = nr * w0i + ni * w0r
        y[two * j] = mr * w1r - mi * w1i
        y[two * j + one] = mr * w1i + mi * w1r


@_helper
def _phase_tile(x, n, p, t):
    """``x[j] *= (p0 t0[j] + p1 t1[j])`` over ``n`` complex numbers stored as floats: ``t`` holds
    the low chunk's table in two rows (re/im interleaved), each zero where the pivot bit has the
    other value, and ``p`` the high chunks' products for pivot 0 and 1."""
    two = np.uint64(2)
    one = np.uint64(1)
    off = two * np.uint64(CHUNK)
    p0r, p0i, p1r, p1i = p[0], p[1], p[2], p[3]
    for j in range(np.uint64(n)):
        ar = t[two * j]
        ai = t[two * j + one]
        br = t[off + two * j]
        bi = t[off + two * j + one]
        wr = p0r * ar - p0i * ai + p1r * br - p1i * bi
        wi = p0r * ai + p0i * ar + p1r * bi + p1i * br
        xr = x[two * j]
        xi = x[two * j + one]
        x[two * j] = xr * wr - xi * wi
        x[two * j + one] = xr * wi + xi * wr


@_helper
def _tile_weights(t, tre, tim, s, one, zero, p, w):
    """``w`` = the phases (``_weights_row``) of the tile of CHUNK pairs from pair index ``s``: ``t``
    holds the low chunk's tables, ``p`` (scratch) gets the high chunks' products."""
    nchunks = tre.shape[1]
    p[0], p[1] = _hi_product(tre, tim, s, nchunks, 0, one, zero)
    p[2], p[3] = _hi_product(tre, tim, s, nchunks, 1, one, zero)
    _weights_row(t, p, np.int64(CHUNK), w)


@_helper
def _high_task(f, task, per, pbit, u, tre, tim, skew):
    """Task ``task`` of the pivot at bit 8 and above: ``per`` pairs (i, i + half) in contiguous runs of
    whole chunks; the low chunk's index is the position in the chunk, the other chunks' product is
    one value per chunk.  ``skew`` > 0 (``onequbit.far_chunk``: partners far apart): each run's
    first side is read ``skew`` pairs (whole tiles) ahead of its second through ``onequbit``'s ring."""
    half = np.int64(1) << pbit
    one, zero = u[8], u[9]  # 1 and 0 in the state's real type
    tile = np.int64(CHUNK)
    run = half if half < per else per  # contiguous pairs (i, i + half) in a run
    c = skew if skew < run else run  # ring chunk in pairs (a whole number of tiles: both powers of 2 >= CHUNK)
    t = np.empty(4 * CHUNK, dtype=f.dtype)  # the low chunk's tables, interleaved re/im
    w = np.empty(4 * CHUNK, dtype=f.dtype)
    p = np.empty(4, dtype=f.dtype)
    for j in range(CHUNK):
        t[2 * j] = tre[0, 0, j]
        t[2 * j + 1] = tim[0, 0, j]
        t[2 * CHUNK + 2 * j] = tre[1, 0, j]
        t[2 * CHUNK + 2 * j + 1] = tim[1, 0, j]
    ring = np.empty(6 * c if skew > 0 else 0, dtype=f.dtype)
    for q in range(task * per, (task + 1) * per, run):
        i0 = ((q >> pbit) << (pbit + 1)) | (q & (half - 1))
        if skew > 0:
            x = f[2 * i0:2 * (i0 + run)]
            y = f[2 * (i0 + half):2 * (i0 + half + run)]
            nch = run // c
            for i in range(nch):
                r = ring_turn(x, ring, i, nch, 2 * c)
                for k in range(0, c, tile):
                    _tile_weights(t, tre, tim, i0 + i * c + k, one, zero, p, w)
                    a = r + 2 * k
                    b = 2 * (i * c + k)
                    _run_slices(ring[a:a + 2 * tile], y[b:b + 2 * tile], tile, u, w)
            ring_drain(x, ring, nch, 2 * c)
        else:
            for s in range(i0, i0 + run, tile):
                _tile_weights(t, tre, tim, s, one, zero, p, w)
                a = 2 * s
                b = 2 * (s + half)
                _run_slices(f[a:a + 2 * tile], f[b:b + 2 * tile], tile, u, w)


@_helper
def _low_task(f, task, per_tiles, tile, pbit, u, tre, tim):
    """Task ``task`` of the pivot inside the low chunk: ``per_tiles`` whole tiles; in each, u on the
    tile's pairs (``onequbit.pair_blocks``: unrolled blocks of 2..32 amplitudes, slice runs above),
    then every amplitude times its phase: the high chunks' product for its pivot value times the low
    chunk's table, both rows selected by the pivot bit ahead of time (unit stride, L1-resident)."""
    nchunks = tre.shape[1]
    half = np.int64(1) << pbit
    one, zero = u[8], u[9]
    t = np.zeros(4 * CHUNK, dtype=f.dtype)  # re/im rows: the low table where the pivot bit is 0, then 1
    p = np.empty(4, dtype=f.dtype)
    for i in range(tile):
        v = (i >> pbit) & 1
        t[2 * CHUNK * v + 2 * i] = tre[v, 0, i]
        t[2 * CHUNK * v + 2 * i + 1] = tim[v, 0, i]
    for s in range(task * per_tiles * tile, (task + 1) * per_tiles * tile, tile):
        x = f[2 * s:2 * (s + tile)]
        pair_blocks(x, tile // (2 * half), half, u)
        p[0], p[1] = _hi_product(tre, tim, s, nchunks, 0, one, zero)
        p[2], p[3] = _hi_product(tre, tim, s, nchunks, 1, one, zero)
        _phase_tile(x, tile, p, t)


@_helper
def _task(f, task, pbit, u, tre, tim, high, per, tile, skew):
    """One task of either kind (so the builds have one parallel loop, a cheaper compilation)."""
    if high:
        _high_task(f, task, per, pbit, u, tre, tim, skew)
    else:
        _low_task(f, task, per, tile, pbit, u, tre, tim)


def _pivot_phases(f, pbit, u, tre, tim):
    """See the module docstring: ``u`` on bit ``pbit``, then the chunk-table diagonal, one pass.
    Tasks of 2048 pairs with the pivot at bit 8 and above, of 16 tiles of a chunk below."""
    n_amp = f.shape[0] >> 1
    half = np.int64(1) << pbit
    tile = np.int64(CHUNK) if n_amp >= CHUNK else n_amp
    high = half >= tile
    skew = far_chunk(half, f.itemsize)  # ring chunk (pairs) for far partners, else 0
    if high:
        npairs = n_amp >> 1
        per = np.int64(_PAIRS_PER_TASK) if npairs >= _PAIRS_PER_TASK else npairs
        ntasks = npairs // per
    else:
        ntiles = n_amp // tile
        per = np.int64(16) if ntiles >= 16 else ntiles  # tiles per task
        ntasks = ntiles // per
    for task in prange(ntasks):
        _task(f, np.int64(task), pbit, u, tre, tim, high, per, tile, skew)  # int64 in both builds: one specialisation


apply_pivot_phases = Contracted(_pivot_phases, "apply_pivot_phases")
