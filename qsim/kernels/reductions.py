"""Reductions and updates over *two* state arrays, for adjoint gradients (``qsim.state.adjoint``).

* ``inner(a, b)`` = <a|b> = sum_i conj(a[i]) b[i];
* ``matrix_inner(a, b, D, offsets, fixed, cval, out)``: ``out[k]`` = <a| D[k] |b>, where each
  ``D[k]`` acts on the targets given by ``offsets`` (as in ``qsim.kernels.gates``: ``offsets[r]``
  are the bits matrix index ``r`` sets) only where the control bits hold (``fixed`` = sorted bit
  positions of targets and controls, ``cval`` = the control values at their positions); outside
  the controlled subspace ``D`` counts as 0, not as the identity: it is the derivative of a
  controlled gate;
* ``axpy(y, c, x)``: y += c x;
* ``pair_sums(psi, lam, bit, w)``: the adjoint sweep over a run of one-qubit gates on one bit in
  one pass: the four sums sum conj(lam_a) psi_b over the bit's amplitude pairs (every derivative of
  the run is a combination of them), then both states multiplied by ``w``;
* ``x_both(psi, lam, bit, fixed, cval)``: an x under controls on both states in one pass;
* ``diagonal_observable(psi, out, zmasks, coeffs)``: out = (sum_k coeffs[k] Z^zmasks[k]) psi, a
  weighted sum of Z products (``zmasks[k]`` = bits of the Z factors), in one pass.

Sums are accumulated in complex128 whatever the state's precision, per chunk, then added in a fixed
order, so a result does not depend on the thread count.  Pure array code: no MPI (the distributed
state reduces the per-rank values), no state-sized temporaries.  Each kernel is size-tiered like
every other kernel (``qsim.kernels.tiers.BySize``: plain Python, serial or parallel build).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange
from numba.extending import register_jitable

from qsim.kernels.gates import _insert_zeros as _spread
from qsim.kernels.indices import index_array
from qsim.kernels.tiers import OPTS, BySize

_CHUNKS = 64


def _inner(a, b):
    n = a.shape[0]
    chunks = min(_CHUNKS, n)
    part = np.zeros(chunks, dtype=np.complex128)
    for c in prange(chunks):
        lo = c * n // chunks
        hi = (c + 1) * n // chunks
        s = 0j
        for i in range(lo, hi):
            x = a[i]
            y = b[i]
            s += complex(x.real * y.real + x.imag * y.imag, x.real * y.imag - x.imag * y.real)
        part[c] = s
    total = 0j
    for c in range(chunks):
        total += part[c]
    return total


def _matrix_inner(a, b, D, offsets, fixed, cval, out):
    count = a.shape[0] >> fixed.shape[0]
    dim = offsets.shape[0]
    m = D.shape[0]
    chunks = max(1, min(_CHUNKS, count))
    part = np.zeros((chunks, m), dtype=np.complex128)
    for c in prange(chunks):
        lo = c * count // chunks
        hi = (c + 1) * count // chunks
        bb = np.empty(dim, dtype=np.complex128)
        for i in range(lo, hi):
            base = _spread(np.int64(i), fixed) | cval
            for col in range(dim):
                bb[col] = b[base + offsets[col]]
            for r in range(dim):
                ar = a[base + offsets[r]]
                arc = complex(ar.real, -ar.imag)
                for k in range(m):
                    s = 0j
                    for col in range(dim):
                        s += D[k, r, col] * bb[col]
                    part[c, k] += arc * s
    for k in range(m):
        total = 0j
        for c in range(chunks):
            total += part[c, k]
        out[k] = total


def _x_both(psi, lam, bit, fixed, cval):
    """x on bit ``bit`` of both states where the ``fixed`` bits other than ``bit`` equal ``cval``
    (a cnot of the backward sweep undone on both states in one pass; no arithmetic)."""
    count = psi.shape[0] >> fixed.shape[0]
    o = np.int64(1) << bit
    run = np.int64(1) << fixed[0]
    tasks = max(1, min(_CHUNKS, count // run))
    per = count // tasks
    for c in prange(tasks):
        for r in range(c * per, (c + 1) * per, run):
            i0 = _spread(r, fixed) | cval
            for t in range(i0, i0 + run):
                x = psi[t]
                psi[t] = psi[t + o]
                psi[t + o] = x
                y = lam[t]
                lam[t] = lam[t + o]
                lam[t + o] = y


@register_jitable
def _parity_weights(bits, masks, coeffs, shift):
    """w[j] = sum over the terms k of coeffs[k] * (-1)^parity(j & (masks[k] >> shift)), j < 2^bits."""
    w = np.zeros(np.int64(1) << bits, dtype=np.float64)
    for j in range(w.shape[0]):
        for k in range(masks.shape[0]):
            x = j & (masks[k] >> shift)
            parity = 0
            while x:
                x &= x - 1
                parity ^= 1
            w[j] += -coeffs[k] if parity else coeffs[k]
    return w


def _pair_sums(psi, lam, bit, w, out):
    """The adjoint sweep over a run of one-qubit gates on bit ``bit`` in one pass: ``out[a, b]``
    = sum over the amplitude pairs (a, b = the bit's value) of conj(lam_a) psi_b, taken before both
    states are multiplied by the 2x2 matrix ``w``.  Every derivative of the run is a linear
    combination of these four sums (``qsim.state.adjoint``), so a pair costs 4 complex products for
    all of them plus 8 for the update, whatever the run's length."""
    half = psi.shape[0] >> 1
    chunks = max(1, min(_CHUNKS, half))
    part = np.zeros((chunks, 4), dtype=np.complex128)
    low = (np.int64(1) << bit) - 1
    one = np.int64(1) << bit
    w00, w01, w10, w11 = w[0, 0], w[0, 1], w[1, 0], w[1, 1]
    for c in prange(chunks):
        lo = c * half // chunks
        hi = (c + 1) * half // chunks
        s00 = 0j
        s01 = 0j
        s10 = 0j
        s11 = 0j
        for i in range(lo, hi):
            i0 = ((i >> bit) << (bit + 1)) | (i & low)
            i1 = i0 | one
            p0 = complex(psi[i0])
            p1 = complex(psi[i1])
            l0 = complex(lam[i0])
            l1 = complex(lam[i1])
            c0 = l0.conjugate()
            c1 = l1.conjugate()
            s00 += c0 * p0
            s01 += c0 * p1
            s10 += c1 * p0
            s11 += c1 * p1
            psi[i0] = w00 * p0 + w01 * p1
            psi[i1] = w10 * p0 + w11 * p1
            lam[i0] = w00 * l0 + w01 * l1
            lam[i1] = w10 * l0 + w11 * l1
        part[c, 0] = s00
        part[c, 1] = s01
        part[c, 2] = s10
        part[c, 3] = s11
    for k in range(4):
        total = 0j
        for c in range(chunks):
            total += part[c, k]
        out[k >> 1, k & 1] = total


def _diagonal_observable(psi, out, zmasks, coeffs):
    """out = (sum_k coeffs[k] Z^zmasks[k]) psi.  A term whose Z bits all lie in the low (or all in
    the high) half of the index is looked up from a table over that half, so a sum of one-qubit Zs
    costs two loads per amplitude; terms spanning both halves are evaluated per amplitude."""
    n = 0
    while (np.int64(1) << n) < psi.shape[0]:
        n += 1
    low = n // 2
    lomask = (np.int64(1) << low) - 1
    nlo = 0
    nhi = 0
    for k in range(zmasks.shape[0]):
        if zmasks[k] & ~lomask == 0:
            nlo += 1
        elif zmasks[k] & lomask == 0:
            nhi += 1
    lo_m = np.zeros(nlo, dtype=np.int64)
    lo_c = np.zeros(nlo, dtype=np.float64)
    hi_m = np.zeros(nhi, dtype=np.int64)
    hi_c = np.zeros(nhi, dtype=np.float64)
    cross_m = np.zeros(zmasks.shape[0] - nlo - nhi, dtype=np.int64)
    cross_c = np.zeros(zmasks.shape[0] - nlo - nhi, dtype=np.float64)
    a = 0
    b = 0
    c = 0
    for k in range(zmasks.shape[0]):
        if zmasks[k] & ~lomask == 0:
            lo_m[a] = zmasks[k]
            lo_c[a] = coeffs[k]
            a += 1
        elif zmasks[k] & lomask == 0:
            hi_m[b] = zmasks[k]
            hi_c[b] = coeffs[k]
            b += 1
        else:
            cross_m[c] = zmasks[k]
            cross_c[c] = coeffs[k]
            c += 1
    wlo = _parity_weights(low, lo_m, lo_c, 0)
    whi = _parity_weights(n - low, hi_m, hi_c, low)
    for i in prange(psi.shape[0]):
        w = wlo[i & lomask] + whi[i >> low]
        for k in range(cross_m.shape[0]):
            x = i & cross_m[k]
            parity = 0
            while x:
                x &= x - 1
                parity ^= 1
            w += -cross_c[k] if parity else cross_c[k]
        out[i] = psi[i] * w


def _axpy(y, c, x):
    for i in prange(y.shape[0]):
        y[i] += c * x[i]


_INNER = BySize(_inner)
_MATRIX_INNER = BySize(_matrix_inner)
_AXPY = BySize(_axpy)
_X_BOTH = BySize(_x_both)
_PAIR_SUMS = BySize(_pair_sums)
_DIAG_OBS = BySize(_diagonal_observable)


def inner(a: np.ndarray, b: np.ndarray) -> complex:
    return complex(_INNER(a, b))


def matrix_inner(a, b, D, offsets, fixed, cval) -> np.ndarray:
    out = np.zeros(D.shape[0], dtype=np.complex128)
    _MATRIX_INNER(a, b, np.ascontiguousarray(D, dtype=np.complex128), offsets, fixed, np.int64(cval), out)
    return out


def axpy(y: np.ndarray, c: complex, x: np.ndarray) -> None:
    _AXPY(y, y.dtype.type(c), x)


def pair_sums(psi, lam, bit, w) -> np.ndarray:
    out = np.zeros((2, 2), dtype=np.complex128)
    _PAIR_SUMS(psi, lam, np.int64(bit), np.ascontiguousarray(w, dtype=np.complex128), out)
    return out


def x_both(psi, lam, bit, fixed, cval) -> None:
    _X_BOTH(psi, lam, np.int64(bit), fixed, np.int64(cval))


def diagonal_observable(psi, out, zmasks, coeffs) -> None:
    _DIAG_OBS(psi, out, index_array(zmasks), np.asarray(coeffs, dtype=np.float64))


@njit(**OPTS)
def block_products(raw, codes, members, starts, blocks, out):
    """For each block b in ``blocks``: out[b] = E_k ... E_1 over its members (``members[starts[b]:
    starts[b + 1]]``, in application order), each member's matrix ``raw[g]`` placed on the block's
    qubits by its code: 0 = one-qubit matrix (raw[g, :2, :2]) on the block's first qubit, 1 = on its
    second, 2 = a 4x4 matrix in the block's qubit order, 3 = a 4x4 matrix on the swapped order,
    4 = a one-qubit block (2x2 products in out[b, :2, :2]).  Used by compiled circuits to re-bind
    fused blocks (``qsim.state.rebind``): tiny matrices, but one call instead of hundreds."""
    e = np.zeros((4, 4), dtype=np.complex128)
    tmp = np.zeros((4, 4), dtype=np.complex128)
    swap = np.array([0, 2, 1, 3])
    for bi in range(blocks.shape[0]):
        b = blocks[bi]
        m = out[b]
        m[:, :] = 0
        for i in range(4):
            m[i, i] = 1
        for k in range(starts[b], starts[b + 1]):
            g = members[k]
            code = codes[k]
            r = raw[g]
            d = 4
            if code == 4:
                d = 2
                for i in range(2):
                    for j in range(2):
                        e[i, j] = r[i, j]
            elif code == 0:  # r (x) I
                for i in range(4):
                    for j in range(4):
                        e[i, j] = r[i >> 1, j >> 1] if (i & 1) == (j & 1) else 0
            elif code == 1:  # I (x) r
                for i in range(4):
                    for j in range(4):
                        e[i, j] = r[i & 1, j & 1] if (i >> 1) == (j >> 1) else 0
            elif code == 2:
                for i in range(4):
                    for j in range(4):
                        e[i, j] = r[i, j]
            else:
                for i in range(4):
                    for j in range(4):
                        e[i, j] = r[swap[i], swap[j]]
            for i in range(d):
                for j in range(d):
                    s = 0j
                    for t in range(d):
                        s += e[i, t] * m[t, j]
                    tmp[i, j] = s
            for i in range(d):
                for j in range(d):
                    m[i, j] = tmp[i, j]


@njit(**OPTS)
def rotation_matrices(raw, gates, codes, angles):
    """raw[gates[k], :2, :2] = the matrix of rotation ``codes[k]`` (0 rx, 1 ry, 2 rz, 3 phaseshift,
    as ``qsim.circuit.gates`` defines them) at ``angles[k]``: a compiled circuit's rotations re-bound
    in one call (``qsim.state.rebind``)."""
    for k in range(gates.shape[0]):
        m = raw[gates[k]]
        t = angles[k]
        code = codes[k]
        if code == 3:
            m[0, 0] = 1
            m[0, 1] = 0
            m[1, 0] = 0
            m[1, 1] = complex(np.cos(t), np.sin(t))
            continue
        c = np.cos(0.5 * t)
        s = np.sin(0.5 * t)
        if code == 0:
            m[0, 0] = c
            m[0, 1] = complex(0.0, -s)
            m[1, 0] = complex(0.0, -s)
            m[1, 1] = c
        elif code == 1:
            m[0, 0] = c
            m[0, 1] = -s
            m[1, 0] = s
            m[1, 1] = c
        else:
            m[0, 0] = complex(c, -s)
            m[0, 1] = 0
            m[1, 0] = 0
            m[1, 1] = complex(c, s)


_LOW = 6  # bits below this are summed per amplitude, the others per run of 2^_LOW amplitudes


def _z_expectations(psi, out):
    n = out.shape[0]
    size = psi.shape[0]
    low = min(_LOW, n)
    run = np.int64(1) << low
    runs = size >> low
    chunks = max(1, min(_CHUNKS, runs))
    part = np.zeros((chunks, n), dtype=np.float64)
    for c in prange(chunks):
        lo = c * runs // chunks
        hi = (c + 1) * runs // chunks
        acc = np.zeros(n, dtype=np.float64)
        for r in range(lo, hi):
            total = 0.0
            base = r << low
            for t in range(run):
                x = psi[base + t]
                p = x.real * x.real + x.imag * x.imag
                total += p
                for b in range(low):
                    if (t >> b) & 1:
                        acc[b] -= p
                    else:
                        acc[b] += p
            for b in range(low, n):
                if (r >> (b - low)) & 1:
                    acc[b] -= total
                else:
                    acc[b] += total
        for b in range(n):
            part[c, b] = acc[b]
    for b in range(n):
        s = 0.0
        for c in range(chunks):
            s += part[c, b]
        out[b] = s


_Z_EXP = BySize(_z_expectations)


def z_expectations(psi, n_bits) -> np.ndarray:
    """[<Z on bit b>] for b = 0..n_bits-1 in one pass over ``psi`` (the broadcast <Z> of every
    qubit, which otherwise costs one pass per qubit)."""
    out = np.zeros(n_bits, dtype=np.float64)
    _Z_EXP(psi, out)
    return out
