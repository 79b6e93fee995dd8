"""Numba reductions over a state vector: norms, marginals, expectation values, sampling.

Same conventions as ``qsim.kernels.gates`` (bit positions, big-endian ``offsets``).  Every sum is
accumulated in float64/complex128 whatever the state's precision.  Reductions that a distributed
caller must combine across ranks (norms, marginals, expectation sums, chunk weights) return the
*local* partial result; the caller does the Allreduce.  Each kernel is size-tiered
(``qsim.kernels.tiers``: plain Python, serial or parallel by the state's size).
"""

from __future__ import annotations

import numpy as np
from numba import prange
from numba.extending import register_jitable

from qsim.kernels.gates import _insert_zeros
from qsim.kernels.tiers import BySize as _BySize  # noqa: F401  (older name, for other modules)
from qsim.kernels.tiers import by_size

_MAX_PRIVATE_BINS = 1 << 12


@by_size
def norm_squared(state):
    total = 0.0
    for i in prange(state.shape[0]):
        a = state[i]
        total += a.real * a.real + a.imag * a.imag
    return total


@by_size
def prob_bit_one(state, bit):
    """Sum of |a|^2 over the amplitudes whose ``bit`` is 1."""
    half = np.int64(1) << bit
    count = state.shape[0] >> 1
    total = 0.0
    for i in prange(count):
        low = i & (half - 1)
        idx = ((i - low) << 1) | low | half
        a = state[idx]
        total += a.real * a.real + a.imag * a.imag
    return total


@by_size
def marginal_small(state, bits, out):
    """Add to ``out[a]`` (length 2^len(bits)) the probability of each value ``a`` of ``bits``
    (big-endian: ``bits[0]`` is the most significant).  Per-chunk private bins, for few bits."""
    k = bits.shape[0]
    nb = out.shape[0]
    n = state.shape[0]
    nchunks = min(n, 64)
    partial = np.zeros((nchunks, nb))
    for c in prange(nchunks):
        lo = c * n // nchunks
        hi = (c + 1) * n // nchunks
        for i in range(lo, hi):
            a = 0
            for t in range(k):
                a = (a << 1) | ((i >> bits[t]) & 1)
            v = state[i]
            partial[c, a] += v.real * v.real + v.imag * v.imag
    for c in range(nchunks):
        for a in range(nb):
            out[a] += partial[c, a]


@by_size
def marginal_large(state, offsets, rest, out):
    """Like ``marginal_small`` for many bits: one output bin per iteration, summing over the
    2^len(rest) indices of the other bits (``rest`` sorted ascending = the bits summed out...
    given as the *targets* sorted, so ``_insert_zeros`` enumerates the summed-out indices)."""
    nb = out.shape[0]
    count = state.shape[0] >> rest.shape[0]
    for a in prange(nb):
        off = offsets[a]
        total = 0.0
        for i in range(count):
            idx = _insert_zeros(np.int64(i), rest) | off
            v = state[idx]
            total += v.real * v.real + v.imag * v.imag
        out[a] += total


@register_jitable
def _parity(x):
    """1 if ``x`` (non-negative) has an odd number of set bits, else 0: no data-dependent branch."""
    x ^= x >> 32
    x ^= x >> 16
    x ^= x >> 8
    x ^= x >> 4
    x ^= x >> 2
    x ^= x >> 1
    return x & 1


@by_size
def expectation_sum(state, xmask, zmask, yphase, dense, offsets, fixed):
    """Local sum for <psi| P (x) D |psi>: ``P`` a Pauli string given by masks (``xmask`` flips,
    ``zmask`` signs from Z and Y qubits, ``yphase`` = i^(number of Y)), ``D`` a dense matrix on the
    bits of ``offsets`` (``fixed`` = those bits sorted; empty D is [[1]]).  Returns a complex sum.

    A pure Pauli string (``D`` 1x1) takes a one-pass path: sum of sign(i) conj(psi[i ^ x]) psi[i],
    real |psi[i]|^2 when nothing flips."""
    count = state.shape[0] >> fixed.shape[0]
    dim = offsets.shape[0]
    nchunks = min(count, 1024)
    partial = np.zeros(nchunks, dtype=np.complex128)
    if dim == 1:
        if xmask == 0:
            # the sign is constant on runs below the lowest Z bit: sum |psi|^2 per run, then sign it
            run = zmask & -zmask if zmask else count
            for c in prange(nchunks):
                lo = c * count // nchunks
                hi = (c + 1) * count // nchunks
                step = min(run, hi - lo)
                acc = 0.0
                for r in range(lo, hi, step):
                    s = 0.0
                    for i in range(r, r + step):
                        v = state[i]
                        s += np.float64(v.real) * v.real + np.float64(v.imag) * v.imag
                    acc += s - 2.0 * s * _parity(r & zmask)
                partial[c] = acc
        else:
            for c in prange(nchunks):
                lo = c * count // nchunks
                hi = (c + 1) * count // nchunks
                acc = 0.0 + 0.0j
                for i in range(lo, hi):
                    v = np.conj(np.complex128(state[i ^ xmask])) * state[i]
                    acc += v - 2.0 * v * _parity(i & zmask)
                partial[c] = acc
        total = 0.0 + 0.0j
        for c in range(nchunks):
            total += partial[c]
        return total * np.complex128(dense[0, 0]) * yphase
    for c in prange(nchunks):
        lo = c * count // nchunks
        hi = (c + 1) * count // nchunks
        acc = 0.0 + 0.0j
        for i in range(lo, hi):
            base = _insert_zeros(np.int64(i), fixed)
            # sign from Z/Y on the Pauli qubits (disjoint from the dense bits)
            sign = 1.0 - 2.0 * _parity(base & zmask)
            flipped = base ^ xmask
            for b in range(dim):
                amp = state[base | offsets[b]]
                if amp == 0:
                    continue
                col = 0.0 + 0.0j
                for a in range(dim):
                    col += np.conj(np.complex128(state[flipped | offsets[a]])) * dense[a, b]
                acc += col * amp * sign
        partial[c] = acc
    total = 0.0 + 0.0j
    for c in range(nchunks):
        total += partial[c]
    return total * yphase


@by_size
def reduced_density(state, offsets, fixed, out):
    """Add the partial trace over all bits but the targets: out[a, b] += sum psi[a] conj(psi[b])."""
    count = state.shape[0] >> fixed.shape[0]
    dim = offsets.shape[0]
    nchunks = min(count, 64)
    partial = np.zeros((nchunks, dim, dim), dtype=np.complex128)
    for c in prange(nchunks):
        lo = c * count // nchunks
        hi = (c + 1) * count // nchunks
        for i in range(lo, hi):
            base = _insert_zeros(np.int64(i), fixed)
            for a in range(dim):
                va = np.complex128(state[base | offsets[a]])
                if va == 0:
                    continue
                for b in range(dim):
                    partial[c, a, b] += va * np.conj(np.complex128(state[base | offsets[b]]))
    for c in range(nchunks):
        out += partial[c]


@by_size
def chunk_weights(state, nchunks):
    """Probability mass of each of ``nchunks`` equal contiguous chunks of the state."""
    n = state.shape[0]
    out = np.zeros(nchunks)
    for c in prange(nchunks):
        lo = c * n // nchunks
        hi = (c + 1) * n // nchunks
        total = 0.0
        for i in range(lo, hi):
            v = state[i]
            total += v.real * v.real + v.imag * v.imag
        out[c] = total
    return out


@by_size
def sample_sorted(state, weights, chunk_start_mass, draws, out):
    """Inverse-CDF sampling of sorted uniform ``draws`` (in units of probability mass, already
    offset so that 0 is the start of this state): ``out[j]`` is the index whose cumulative mass
    interval contains ``draws[j]``.  Chunks (see ``chunk_weights``) are swept in parallel, each
    starting from its precomputed starting mass, so the result does not depend on thread count."""
    n = state.shape[0]
    nchunks = weights.shape[0]
    ndraws = draws.shape[0]
    # first draw of each chunk
    starts = np.searchsorted(draws, chunk_start_mass, side="left")
    for c in prange(nchunks):
        j = starts[c]
        stop = starts[c + 1] if c + 1 < nchunks else ndraws
        if j >= stop:
            continue
        lo = c * n // nchunks
        hi = (c + 1) * n // nchunks
        cum = chunk_start_mass[c]
        i = lo
        last_nonzero = lo
        while j < stop and i < hi:
            v = state[i]
            p = v.real * v.real + v.imag * v.imag
            if p > 0.0:
                last_nonzero = i
            cum += p
            while j < stop and draws[j] < cum:
                out[j] = i
                j += 1
            i += 1
        # draws left over by rounding at the chunk end go to its last non-zero amplitude
        while j < stop:
            out[j] = last_nonzero
            j += 1
