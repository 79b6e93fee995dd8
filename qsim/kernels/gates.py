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
* Nothing here allocates a state-sized temporary; per-task scratch is at most a few tiles.

The loop over base indices is written once per *arity* (``_each``: single amplitudes, ``_pairs``,
``_quads``, ``_blocks`` of 2^k) and each gate adds only its *core*: the update of one amplitude,
pair, quad or block (``_core_*``, a few lines).  A kernel is ``driver(core)``: a Python closure
over the core, compiled under its own name (so Numba's on-disk cache keeps the builds apart) and
wrapped in ``qsim.kernels.tiers.BySize`` (plain Python, serial or parallel by the state's size).
The dense kernels for 1..5 targets that must run at memory speed have their own loops
(``qsim.kernels.dense``).

Names say the shape: ``apply_<what>[_<arity>]``.  Called only by ``qsim.state.apply`` (and the
distributed state's relabels through it).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange
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


# --------------------------------------------------------------------------- dense 1-qubit, uncontrolled
# The uncontrolled one-qubit kernel runs on the state's float view (re, im, re, im, ...) with every
# index unsigned, so LLVM vectorises it (see qsim.kernels.dense's docstring for why both matter).
# ``m`` = (m00r, m00i, m01r, m01i, m10r, m10i, m11r, m11i): the 2x2 matrix viewed as reals.
_PAIRS_PER_TASK = 4096
_LOW_HALF = 32      # below this partner distance (amplitudes) a task walks whole blocks
_BURST_MIN_BYTES = 1 << 10  # partner distances (bytes) whose pairs go through a buffer
_BURST_MAX_BYTES = 1 << 11
_BURST_PAIRS = 512          # pairs per buffered stretch (16 KiB of complex128)


@register_jitable
def _pair_run(x, y, n, m):
    """Pairs (x[j], y[j]) of complex numbers stored as floats, j < n: (x, y) <- m (x, y)."""
    m00r, m00i, m01r, m01i, m10r, m10i, m11r, m11i = m[0], m[1], m[2], m[3], m[4], m[5], m[6], m[7]
    two = np.uint64(2)
    one = np.uint64(1)
    for j in range(np.uint64(n)):
        ar = x[two * j]
        ai = x[two * j + one]
        br = y[two * j]
        bi = y[two * j + one]
        x[two * j] = m00r * ar - m00i * ai + m01r * br - m01i * bi
        x[two * j + one] = m00r * ai + m00i * ar + m01r * bi + m01i * br
        y[two * j] = m10r * ar - m10i * ai + m11r * br - m11i * bi
        y[two * j + one] = m10r * ai + m10i * ar + m11r * bi + m11i * br


@register_jitable
def _pair_blocks(x, nblocks, half, m):
    """``nblocks`` consecutive blocks of 2*half amplitudes (floats ``x``), pairs (j, j + half) inside
    each; ``half`` is a literal at every call site, so the inner loop is unrolled and the loop over
    blocks is the one LLVM vectorises."""
    m00r, m00i, m01r, m01i, m10r, m10i, m11r, m11i = m[0], m[1], m[2], m[3], m[4], m[5], m[6], m[7]
    two = np.uint64(2)
    one = np.uint64(1)
    h2 = np.uint64(2 * half)
    size = np.uint64(4 * half)
    for u in range(np.uint64(nblocks)):
        a = size * u
        for jj in range(half):
            j = np.uint64(jj)
            ar = x[a + two * j]
            ai = x[a + two * j + one]
            br = x[a + h2 + two * j]
            bi = x[a + h2 + two * j + one]
            x[a + two * j] = m00r * ar - m00i * ai + m01r * br - m01i * bi
            x[a + two * j + one] = m00r * ai + m00i * ar + m01r * bi + m01i * br
            x[a + h2 + two * j] = m10r * ar - m10i * ai + m11r * br - m11i * bi
            x[a + h2 + two * j + one] = m10r * ai + m10i * ar + m11r * bi + m11i * br


@register_jitable
def _half_out(xa, xb, y, n, cr0, ci0, cr1, ci1):
    """y[j] = c0 xa[j] + c1 xb[j] over n complex numbers stored as floats (one output row)."""
    two = np.uint64(2)
    one = np.uint64(1)
    for j in range(np.uint64(n)):
        ar = xa[two * j]
        ai = xa[two * j + one]
        br = xb[two * j]
        bi = xb[two * j + one]
        y[two * j] = cr0 * ar - ci0 * ai + cr1 * br - ci1 * bi
        y[two * j + one] = cr0 * ai + ci0 * ar + cr1 * bi + ci1 * br


def _dense_1_float(f, bit, m):
    """The body of ``apply_dense_1`` on the float view ``f`` of the state."""
    half = np.int64(1) << bit
    npairs = f.shape[0] >> 2
    if half * 2 * f.itemsize >= _FAR_BYTES:
        # Partners at least 256 MiB apart: interleaving the two streams element by element ran at a
        # fifth of the bandwidth here (as Braket's kernel does: DRAM row conflicts, most likely).
        # Each task reads a tile of each half into a buffer (two sequential bursts), then writes
        # each half in one sequential burst.
        tile = half if half < _TILE else np.int64(_TILE)
        ntiles = npairs // tile
        nchunks = min(ntiles, 256)
        m00r, m00i, m01r, m01i, m10r, m10i, m11r, m11i = m[0], m[1], m[2], m[3], m[4], m[5], m[6], m[7]
        for c in prange(nchunks):
            abuf = np.empty(2 * tile, dtype=f.dtype)
            bbuf = np.empty(2 * tile, dtype=f.dtype)
            for t in range(c * ntiles // nchunks, (c + 1) * ntiles // nchunks):
                q = t * tile
                a = 2 * (((q >> bit) << (bit + 1)) | (q & (half - 1)))
                b = a + 2 * half
                abuf[:] = f[a:a + 2 * tile]
                bbuf[:] = f[b:b + 2 * tile]
                _half_out(abuf, bbuf, f[a:a + 2 * tile], tile, m00r, m00i, m01r, m01i)
                _half_out(abuf, bbuf, f[b:b + 2 * tile], tile, m10r, m10i, m11r, m11i)
        return
    per = np.int64(_PAIRS_PER_TASK) if npairs > _PAIRS_PER_TASK else npairs
    distance = half * 2 * f.itemsize
    if distance >= _BURST_MIN_BYTES and distance <= _BURST_MAX_BYTES and per >= 2 * half:
        # Partners 1-2 KiB apart ran at half speed in both precisions when the two runs were
        # walked side by side (bits 6-7 of complex128, 7-8 of complex64).  A task copies a stretch
        # of whole blocks into a buffer (one sequential read) and writes each run in one burst.
        m00r, m00i, m01r, m01i, m10r, m10i, m11r, m11i = m[0], m[1], m[2], m[3], m[4], m[5], m[6], m[7]
        span = _BURST_PAIRS if _BURST_PAIRS < per else per
        nspans = npairs // span
        ntasks = nspans if nspans < 256 else np.int64(256)
        nf = 4 * span
        for task in prange(ntasks):
            buf = np.empty(nf, dtype=f.dtype)
            for sp in range(task * nspans // ntasks, (task + 1) * nspans // ntasks):
                x = f[sp * nf:(sp + 1) * nf]
                buf[:] = x
                for a in range(0, nf, 4 * half):
                    b = a + 2 * half
                    _half_out(buf[a:b], buf[b:b + 2 * half], x[a:b], half, m00r, m00i, m01r, m01i)
                    _half_out(buf[a:b], buf[b:b + 2 * half], x[b:b + 2 * half], half, m10r, m10i, m11r, m11i)
        return
    if half >= _LOW_HALF:
        # contiguous runs of pairs (i, i + half); the two rows as separate slices, so LLVM checks
        # their overlap once per run instead of giving up on one array indexed twice
        run = half if half < per else per
        for t in prange(npairs // per):
            for q in range(t * per, (t + 1) * per, run):
                a = 2 * (((q >> bit) << (bit + 1)) | (q & (half - 1)))
                b = a + 2 * half
                _pair_run(f[a:a + 2 * run], f[b:b + 2 * run], run, m)
        return
    # bits 0..4: pairs inside blocks of 2, 4, ... 32 amplitudes; a task is a stretch of whole blocks
    nb = per // half
    for t in prange(npairs // per):
        x = f[4 * per * t:4 * per * (t + 1)]
        if half == 1:
            _pair_blocks(x, nb, 1, m)
        elif half == 2:
            _pair_blocks(x, nb, 2, m)
        elif half == 4:
            _pair_blocks(x, nb, 4, m)
        elif half == 8:
            _pair_blocks(x, nb, 8, m)
        else:
            _pair_blocks(x, nb, 16, m)


class _Dense1:
    """``apply_dense_1(state, bit, p)``: the size tiers of ``BySize`` over builds of a float-view
    body.  ``parallel``, ``serial`` and ``py_func`` take the same arguments as the kernel (for
    tests); each views the state as floats and the matrix as 8 reals, then runs its build."""

    def __init__(self, body, name):
        from qsim.kernels.tiers import renamed

        opts = dict(_OPTS, fastmath={"contract"})
        builds = {"parallel": njit(parallel=True, **opts)(renamed(body, name)),
                  "serial": njit(**opts)(renamed(body, name + "_serial")), "py_func": body}
        for tier, build in builds.items():
            setattr(self, tier, self._wrap(build))
        self.__name__ = name

    @staticmethod
    def _wrap(build):
        def run(state, bit, p):
            real = np.float32 if state.dtype == np.complex64 else np.float64
            return build(state.view(real), bit, np.array(p, dtype=state.dtype).view(real))
        return run

    def __call__(self, state, bit, p):
        size = state.shape[0]
        if size <= PYTHON_MAX_AMPLITUDES:
            return self.py_func(state, bit, p)
        if size < PARALLEL_MIN_AMPLITUDES:
            return self.serial(state, bit, p)
        return self.parallel(state, bit, p)

    def __repr__(self):
        return f"<size-tiered kernel {self.__name__}>"


apply_dense_1 = _Dense1(_dense_1_float, "apply_dense_1")
apply_dense_1.__doc__ = """Uncontrolled 2x2 matrix ``p`` = (m00, m01, m10, m11) on ``bit``: the hot path of every circuit.

One flat parallel loop over tasks of 4096 pairs (never a ``prange`` under a serial loop), on the
state's float view with unsigned indices, so the pair arithmetic is packed FMAs.  For ``bit >= 5`` a
task walks contiguous runs of pairs ``(i, i + 2^bit)``; for bits 0-4, whose pairs sit inside
blocks of 2..32 amplitudes, a task walks whole blocks with the block's pairs unrolled."""


from qsim.kernels.diagonal import apply_diagonal_scan  # noqa: F401  (its home now; re-exported for apply.py)
