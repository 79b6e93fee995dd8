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
* ``params`` is a tuple: the gate's numbers (matrix entries, phases; arrays for k targets).
* Every index array (``fixed``, ``offsets``, a permutation) is read-only
  (``qsim.kernels.indices.index_array``): given a writable one too, a kernel would compile twice.
* Nothing here allocates a state-sized temporary; per-task scratch is at most a few tiles.

The loop over base indices is written once per *arity* (``_each``: single amplitudes, ``_pairs``,
``_quads``, ``_blocks`` of 2^k) and each gate adds only its *core*: the update of one amplitude,
pair, quad or block (``_core_*``, a few lines).  A kernel is ``driver(core)``: a Python closure
over the core, compiled under its own name (so Numba's on-disk cache keeps the builds apart) and
wrapped in ``qsim.kernels.tiers.BySize`` (plain Python, serial or parallel by the state's size).
The dense kernels that must run at memory speed have their own loops: one target uncontrolled in
``qsim.kernels.onequbit``, 2..5 targets in ``qsim.kernels.dense``.

Names say the shape: ``apply_<what>[_<arity>]``.  Called only by ``qsim.state.apply`` (and the
distributed state's relabels through it).
"""

from __future__ import annotations

import numpy as np
from numba import prange
from numba.extending import register_jitable

from qsim.kernels.tiers import OPTS as _OPTS  # noqa: F401  (re-exported for the other kernel modules)
from qsim.kernels.tiers import PARALLEL_MIN_AMPLITUDES, PYTHON_MAX_AMPLITUDES, BySize, by_size  # noqa: F401
from qsim.kernels.tiers import serial_build as _serial  # noqa: F401  (older name, for other modules)


@register_jitable
def _insert_zeros(i, fixed):
    """Spread ``i`` over the bit positions not in ``fixed`` (ascending), leaving those bits 0."""
    for k in range(fixed.shape[0]):
        b = fixed[k]
        low = i & ((np.int64(1) << b) - 1)
        i = ((i >> b) << (b + 1)) | low
    return i


# Amplitudes (or pairs) per parallel task.  Each task works on contiguous runs of this length at
# most, so LLVM sees simple unit-stride inner loops and the two threads stream through separate
# halves of the state; 2048 complex128 pairs = 64 KiB, large enough that a task costs far more
# than its scheduling.
_TILE = 2048


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


# --------------------------------------------------------------------------- drivers, one per arity
def _each(core, name):
    def kernel(state, fixed, cval, params):
        count = state.shape[0] >> fixed.shape[0]
        run, per, ntasks = _run_layout(count, fixed)
        for t in prange(ntasks):
            for r in range(t * per, (t + 1) * per, run):
                i0 = _insert_zeros(r, fixed) | cval
                for i in range(i0, i0 + run):
                    core(state, i, params)
    kernel.__doc__ = f"``{core.__name__}`` on every amplitude whose ``fixed`` bits equal ``cval``."
    return BySize(kernel, name)


def _pairs(core, name):
    def kernel(state, bit, fixed, cval, params):
        count = state.shape[0] >> fixed.shape[0]
        half = np.int64(1) << bit
        run, per, ntasks = _run_layout(count, fixed)
        for t in prange(ntasks):
            for r in range(t * per, (t + 1) * per, run):
                i0 = _insert_zeros(r, fixed) | cval
                for i in range(i0, i0 + run):
                    core(state, i, i + half, params)
    kernel.__doc__ = f"``{core.__name__}`` on every pair (i, i + 2^bit) whose other fixed bits equal ``cval``."
    return BySize(kernel, name)


def _quads(core, name):
    def kernel(state, offsets, fixed, cval, params):
        count = state.shape[0] >> fixed.shape[0]
        o1, o2, o3 = offsets[1], offsets[2], offsets[3]  # offsets[0] is 0
        run, per, ntasks = _run_layout(count, fixed)
        for t in prange(ntasks):
            for r in range(t * per, (t + 1) * per, run):
                b0 = _insert_zeros(r, fixed) | cval
                for i in range(b0, b0 + run):
                    core(state, i, i + o1, i + o2, i + o3, params)
    kernel.__doc__ = f"``{core.__name__}`` on every block of 4 (two targets) under the controls."
    return BySize(kernel, name)


def _blocks(core, name):
    def kernel(state, offsets, fixed, cval, params):
        count = state.shape[0] >> fixed.shape[0]
        dim = offsets.shape[0]
        run, per, ntasks = _run_layout(count, fixed)
        for t in prange(ntasks):
            vin = np.empty(dim, dtype=state.dtype)
            for r in range(t * per, (t + 1) * per, run):
                b0 = _insert_zeros(r, fixed) | cval
                for base in range(b0, b0 + run):
                    core(state, base, offsets, vin, params)
    kernel.__doc__ = f"``{core.__name__}`` on every block of 2^k (k targets) under the controls."
    return BySize(kernel, name)


# --------------------------------------------------------------------------- cores
@register_jitable
def _core_mul(state, i, p):
    state[i] *= p[0]


@register_jitable
def _core_dense_pair(state, i, j, p):
    a = state[i]
    b = state[j]
    state[i] = p[0] * a + p[1] * b
    state[j] = p[2] * a + p[3] * b


@register_jitable
def _core_diag_pair(state, i, j, p):
    state[i] *= p[0]
    state[j] *= p[1]


@register_jitable
def _core_swap_pair(state, i, j, p):
    tmp = state[i]
    state[i] = state[j]
    state[j] = tmp


@register_jitable
def _core_swap_quad(state, i0, i1, i2, i3, p):
    tmp = state[i1]
    state[i1] = state[i2]
    state[i2] = tmp


@register_jitable
def _core_dense_block(state, base, offsets, vin, p):
    m = p[0]
    dim = offsets.shape[0]
    for a in range(dim):
        vin[a] = state[base + offsets[a]]
    for a in range(dim):
        acc = m[a, 0] * vin[0]
        for b in range(1, dim):
            acc += m[a, b] * vin[b]
        state[base + offsets[a]] = acc


@register_jitable
def _core_monomial_block(state, base, offsets, vin, p):
    perm, phases = p[0], p[1]
    dim = offsets.shape[0]
    for a in range(dim):
        vin[a] = state[base + offsets[a]]
    for a in range(dim):
        state[base + offsets[a]] = phases[a] * vin[perm[a]]


@register_jitable
def _core_diag_block(state, base, offsets, vin, p):
    diag = p[0]
    for a in range(offsets.shape[0]):
        state[base + offsets[a]] *= diag[a]


# --------------------------------------------------------------------------- the kernels
apply_phase = _each(_core_mul, "apply_phase")
apply_phase.__doc__ = """Multiply by ``params[0]`` the amplitudes whose ``fixed`` bits equal ``cval`` (cz, s, t,
cphaseshift, controlled gphase...): touches 1/2^len(fixed) of the state."""
apply_dense_1_ctrl = _pairs(_core_dense_pair, "apply_dense_1_ctrl")
apply_dense_1_ctrl.__doc__ = "2x2 matrix ``params`` = (m00, m01, m10, m11) on ``bit`` under controls."
apply_diagonal_1 = _pairs(_core_diag_pair, "apply_diagonal_1")
apply_diagonal_1.__doc__ = "diag(params) on ``bit`` (rz, phaseshift, their controlled forms)."
apply_x = _pairs(_core_swap_pair, "apply_x")
apply_x.__doc__ = "Swap the amplitude pairs that differ in ``bit`` (x, cnot, ccnot, mcx): no arithmetic."
apply_swap = _quads(_core_swap_quad, "apply_swap")
apply_swap.__doc__ = "Exchange the values of the two target bits (swap, cswap): |..1..0..> <-> |..0..1..>."
apply_dense_k = _blocks(_core_dense_block, "apply_dense_k")
apply_dense_k.__doc__ = "2^k x 2^k matrix ``params[0]`` on k targets, one block at a time (any k)."
apply_monomial = _blocks(_core_monomial_block, "apply_monomial")
apply_monomial.__doc__ = """One non-zero per row: ``new[a] = phases[a] * old[perm[a]]`` within each block,
``params = (perm, phases)`` (y, iswap, pswap, gpi, ...)."""
apply_diagonal = _blocks(_core_diag_block, "apply_diagonal")
apply_diagonal.__doc__ = "Multiply amplitude ``a`` of each block by ``params[0][a]`` (any diagonal on k targets)."


@by_size
def scale(state, factor):
    for i in prange(state.shape[0]):
        state[i] *= factor


@by_size
def project(state, bit, outcome, factor):
    """Zero the amplitudes whose ``bit`` differs from ``outcome``; scale the rest by ``factor``."""
    mask = np.int64(1) << bit
    want = np.int64(outcome) << bit
    for i in prange(state.shape[0]):
        if (i & mask) == want:
            state[i] *= factor
        else:
            state[i] = 0


# The uncontrolled one-qubit dense kernel has its own module (its loops depend on how far apart the
# partners are); re-exported here with the diagonal scan, so apply.py finds every kernel in one place.
from qsim.kernels.onequbit import apply_dense_1  # noqa: E402,F401
from qsim.kernels.diagonal import apply_diagonal_scan  # noqa: F401  (its home now; re-exported for apply.py)
