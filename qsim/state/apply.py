"""Call the kernel for one unitary on an array, in bit-position space.

``apply_unitary(array, target_bits, matrix, control_bits, control_values)`` is the single entry
from the state layer (and the distributed layer, which calls it on its shard with local bit
positions) into ``qsim.kernels``.  What the gate is comes from ``qsim.state.kinds.classify`` (from
the matrix, not the name); which build of the kernel runs (plain Python, serial, parallel) from
``qsim.kernels.tiers``.  Kernels are looked up on their modules at call time, so tests can
substitute plain-Python kernels.  Every index array handed to a kernel is read-only
(``qsim.kernels.indices``), so each kernel is compiled once per dtype.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from qsim.kernels import dense as KD
from qsim.kernels import gates as K
from qsim.kernels.indices import index_array
from qsim.state.kinds import classify

_EMPTY = index_array(())
# A permutation with phases on 2..5 targets goes to the tiled kernel when its lowest fixed bit is at
# least this (runs of 16 amplitudes).  n=26, two threads, a 4-qubit cnot ladder, seconds, tiled
# against the block loop, complex128 / complex64: lowest bit 3 0.159 / 0.139 and 0.140 / 0.096;
# bit 4 0.119 / 0.166 and 0.134 / 0.185; bit 8 0.092 / 0.242 and 0.048 / 0.171 (a dense pass of
# the same block: 0.24 and 0.13).
_TILED_MONOMIAL_MIN_BIT = 4
_NO_PARAMS = ()


@lru_cache(maxsize=4096)
def _offsets_cached(target_bits: tuple) -> np.ndarray:
    k = len(target_bits)
    out = np.zeros(1 << k, dtype=np.int64)
    for j, b in enumerate(target_bits):
        bit_of_a = k - 1 - j
        out |= ((np.arange(1 << k) >> bit_of_a) & 1).astype(np.int64) << b
    out.flags.writeable = False
    return out


def _offsets(target_bits) -> np.ndarray:
    """offsets[a] for big-endian matrix index a over ``target_bits`` (cached, read-only)."""
    return _offsets_cached(tuple(int(b) for b in target_bits))


@lru_cache(maxsize=4096)
def _fixed_cached(bits: tuple) -> np.ndarray:
    return index_array(sorted(bits))


def _fixed(bits) -> np.ndarray:
    """The bit positions ``bits``, ascending (cached, read-only)."""
    return _fixed_cached(tuple(int(b) for b in bits)) if bits else _EMPTY


def _cval(controls, values) -> np.int64:
    cval = 0
    for b, v in zip(controls, values):
        cval |= v << b
    return np.int64(cval)


def apply_unitary(array: np.ndarray, target_bits, matrix: np.ndarray, control_bits=(), control_values=()) -> None:
    """Apply ``matrix`` (big-endian over ``target_bits``) to ``array`` where every control bit has
    its control value.  ``array`` is modified in place."""
    g = classify(target_bits, matrix, control_bits, control_values)
    kind, targets, controls = g.kind, g.targets, g.controls
    if kind == "identity":
        return
    if kind == "dense":
        apply_dense(array, targets, g.matrix, controls, g.values)
        return
    dtype = array.dtype
    cval = _cval(controls, g.values)
    if kind == "scalar":
        phase = dtype.type(g.diag[0])
        if not controls:
            K.scale(array, phase)
        else:
            K.apply_phase(array, _fixed(controls), cval, (phase,))
        return
    if kind == "phase":
        k = len(targets)
        a = int(np.nonzero(g.diag != 1)[0][0])
        corner = int(cval)
        for j, b in enumerate(targets):
            corner |= ((a >> (k - 1 - j)) & 1) << b
        K.apply_phase(array, _fixed(controls + targets), np.int64(corner), (dtype.type(g.diag[a]),))
        return
    fixed = _fixed(controls + targets)
    if kind == "diagonal":
        if len(targets) >= 3 and not controls:
            _diagonal_scan(array, targets, g.diag.astype(dtype))
        elif len(targets) == 1:
            K.apply_diagonal_1(array, np.int64(targets[0]), fixed, cval, (dtype.type(g.diag[0]), dtype.type(g.diag[1])))
        else:
            K.apply_diagonal(array, _offsets(targets), fixed, cval, (g.diag.astype(dtype),))
        return
    if kind == "x":
        K.apply_x(array, np.int64(targets[0]), fixed, cval, _NO_PARAMS)
    elif kind == "swap":
        K.apply_swap(array, _offsets(targets), fixed, cval, _NO_PARAMS)
    elif 2 <= len(targets) <= KD.MAX_TARGETS and fixed[0] >= _TILED_MONOMIAL_MIN_BIT:
        # tiled like a dense block, its rows permuted and phased (one pass where the block loop
        # interleaves 2^k distant streams); below, runs of < 16 amplitudes: the block loop wins
        mre, mim = KD.phases_split(g.phases, dtype)
        KD.apply_dense_tiled(array, _offsets(targets), fixed, cval, mre, mim, index_array(g.perm))
    else:
        K.apply_monomial(array, _offsets(targets), fixed, cval, (index_array(g.perm), g.phases.astype(dtype)))


_SCAN_LOW_BITS = 12


def _diagonal_scan(array, targets, diag):
    """A diagonal on many targets in one sequential sweep (``gates.apply_diagonal_scan``): the index
    into ``diag`` is looked up from the low 12 bits of the state index and from the rest."""
    n = array.shape[0].bit_length() - 1
    lo_bits = min(n, _SCAN_LOW_BITS)
    k = len(targets)
    lo = np.zeros(1 << lo_bits, dtype=np.int64)
    hi = np.zeros(1 << (n - lo_bits), dtype=np.int64)
    j_lo = np.arange(1 << lo_bits, dtype=np.int64)
    j_hi = np.arange(1 << (n - lo_bits), dtype=np.int64)
    for j, b in enumerate(targets):
        if b < lo_bits:
            lo |= ((j_lo >> b) & 1) << (k - 1 - j)
        else:
            hi |= ((j_hi >> (b - lo_bits)) & 1) << (k - 1 - j)
    lo.flags.writeable = hi.flags.writeable = False  # index arrays are read-only (qsim.kernels.indices)
    K.apply_diagonal_scan(array, np.int64(lo_bits), lo, hi, (diag,))


def apply_dense(array, targets, matrix, controls=(), values=()):
    """A dense matrix on ``targets`` (bit positions), no structure analysis."""
    k = len(targets)
    m = np.asarray(matrix).astype(array.dtype)
    if k == 1:
        p = (m[0, 0], m[0, 1], m[1, 0], m[1, 1])
        if not controls:
            K.apply_dense_1(array, np.int64(targets[0]), p)
        else:
            K.apply_dense_1_ctrl(array, np.int64(targets[0]), _fixed(controls + targets), _cval(controls, values), p)
        return
    offsets = _offsets(targets)
    fixed = _fixed(list(controls) + list(targets))
    cval = _cval(controls, values)
    if k <= KD.MAX_TARGETS:
        mre, mim = KD.split(m, array.dtype)
        KD.apply_dense_tiled(array, offsets, fixed, cval, mre, mim, KD.NO_PERM)
    else:
        K.apply_dense_k(array, offsets, fixed, cval, (m,))
