"""Dense matrices on 2..5 target bits at (close to) memory speed: the kernel fused blocks run on.

Same conventions as ``qsim.kernels.gates`` (``offsets``, ``fixed``, ``cval``).  The matrix comes
split into its real and imaginary parts (``mre``, ``mim``, in the state's real precision).

A task walks *tiles* of ``_LANES`` base indices.  For each tile it gathers the 2^k amplitudes of
every block into contiguous real and imaginary rows (row ``b``: the amplitudes at ``base_j +
offsets[b]``), forms the output rows four at a time (``_four_rows``) with the running sums in
registers, and writes them back (a 2-qubit block writes its four output rows straight into the
state, ``_row_of_4``: 10% less time than through a buffer).  The register blocks fit the target's
vector register file (``tiers.VECTOR_REGISTERS``): with 32 (AVX-512) ``_acc24`` takes two output
rows and four columns at a time (16 matrix entries, 8 inputs and 4 sums per lane: 28 registers);
with 16 (AVX2) ``_acc22`` takes 2x2 blocks (8 entries, 4 inputs, 4 sums).  Blocks of 4x4 (32
entries, 8 inputs, 8 sums) spill with either: on a Zen 3 (AVX2, n=24, two threads, against one
NumPy pass) 4x4 blocks took k=4 4.3 and k=5 7.0 passes at complex128, 2x2 blocks 2.8 and 4.5; on
an AVX-512 Xeon (LLVM's ``rocketlake``, 2026-12-04; three alternating runs, best of 3 each, ns
per amplitude) 2x4 blocks against 4x4: complex128 [8..11] 2.52-2.69 -> 2.28-2.33, [8..12]
3.96-4.53 -> 3.47-3.59, [4..7] 2.93-3.14 -> 2.54-2.70, [20..23] 2.38-2.65 -> 2.24-2.28;
complex64 3-5% faster at k=4 and 5; 2- and 3-qubit blocks within noise.

The arithmetic runs over the lanes of the tile whatever the target bits are, and the state is
read as 2^k sequential bursts of a tile each: targets whose partners are far apart (the top bits
of a large state) cost no more than others, because no loop interleaves two distant streams
element by element.  A tile row is copied in runs, one unit-stride loop each (``_runs``): one
run of ``_LANES`` when the lowest fixed bit is log2(``_LANES``) (7 or 8) or above, else runs of
2^(lowest fixed bit) amplitudes, down to runs of 128 bytes (``_MIN_RUN_BYTES``: 8 amplitudes at
complex128, 16 at complex64); shorter ones are copied amplitude by amplitude (bits 0-2 or 0-3:
about 1.4x the time of a contiguous block in cache).  Runs of 8 against amplitude by amplitude,
with the prefetch below (n=24, best of 5-6, two rounds): complex128 [3,4,5] 4.64 -> 4.06 and 4.19
-> 3.68, [3..6] 6.29 -> 5.53 and 5.54 -> 5.00 ns per amplitude; complex64 (runs of 64 B) 0-14%
slower, so it keeps 16.  Copying a whole tile row through
``_runs`` as one run, rather than with its own loop over the state's view, was 5-20% faster
(Zen 3, n=24, two threads, k=2..5, best of three interleaved rounds).  One target (never sent
here by the state, which has ``onequbit.apply_dense_1``) and states of fewer blocks than a tile
run block by block.

The same tiles carry a permutation with phases (a monomial: a cnot ladder's fused block, iswap
on k > 1 targets...; ``perm`` non-empty): output row ``a`` is ``phases[a]`` times gathered row
``perm[a]``, written straight into the state (``_phased_row``), no matrix product.  Where the
runs are 16 amplitudes or longer this is about one pass (n=26, two threads, a 4-qubit ladder on
bits 8-11: 0.09 s at complex128, against 0.24 s for the block loop of ``gates.apply_monomial``,
which interleaves 16 distant streams, and 0.24 s for a dense pass); below, the block loop is
faster and ``qsim.state.apply`` keeps it.

While a task multiplies one tile it prefetches the next tile's rows (``_prefetch``, a ``prefetcht1``
per cache line from ``qsim.kernels.prefetch``), spread over its register-block calls.  The hardware
prefetchers follow a few streams; a tile read as 2^k rows of short runs is hundreds of them (k=4,
runs of 16: 256 runs of 2-4 lines), and the gather waits on each.  Zen 3, n=24, two threads, best of
5-7 interleaved with the kernel without it, ns per amplitude, complex128 / complex64: targets from
bit 4 (runs of 16) [4..7] 5.61 -> 4.58 / 4.11 -> 3.41, [4,5,6] 4.88 -> 3.88 / 3.48 -> 2.48, [4..8]
7.85 -> 7.45 / 5.29 -> 4.29; 2-qubit blocks on contiguous rows 1.87 -> 1.72 / 1.21 -> 1.03;
contiguous 4- and 5-qubit blocks within 3%.  A 2-qubit block read in runs shorter than a tile
prefetches from runs of 256 B on (``_PREFETCH_2Q_RUN_BYTES``; n=24, two runs of 7-9 interleaved,
complex128 [4, 5] 2.73 -> 2.27 and 4.66 -> 3.75, [5, 6] 2.61 -> 2.09, [7, 8] within 8%; complex64
[5, 6] 1.42 -> 1.04, [7, 8] 1.12 -> 0.86); with runs of 128 B it was slower (complex128 [3, 4]
2.24 -> 2.52) and goes without.  The 2x4 blocks (AVX-512) issue them the same way.

An uncontrolled 2-qubit block on bits 0 and 1 does not use the tiles: ``qsim.kernels.dense_low``
multiplies each block's four contiguous amplitudes in place (its figures are there).

Cost: 4 x 2^k real multiply-adds per amplitude, vectorised (zmm on a Zen 4: 8 doubles or 16
floats; ymm on a Zen 3, and on the AVX-512 Xeon, see ``qsim.kernels.tiers``).  One Zen 4 core
did about 29 G double multiply-adds per second (two cores 55), so a 4-qubit block needs at least
64 / 55e9 s per amplitude on two cores: 1.7 passes over a DRAM-resident complex128 state (a pass: about 0.6 ns per amplitude), and as many for
complex64.  In cache on one Zen 4 core it took ~3.2 ns per amplitude at complex128 (the bound is
2.2) and ~1.9 ns at complex64 (1.1).  A Zen 3 core peaks at about 17 G (dgemm).

The sums are written with the lane index unsigned (Numba then emits no negative-index wraparound,
which would stop vectorisation) and FMA contraction allowed (``fastmath={'contract'}``: one
rounding per multiply-add instead of two, never less accurate).

What makes LLVM vectorise a Numba loop here (checked with ``njit(cache=False)`` on the body, then
``inspect_asm()``: look for ``vfmadd...pd/ps`` on ``ymm`` registers, not ``vmulsd``/``vfmadd231sd``):

* no complex arithmetic in the loop: work on real and imaginary parts as separate scalars, either
  gathered into planar rows (as here) or on the state's float view (``state.view(mre.dtype)``
  inside the kernel, or ``state.view(np.float64)`` from Python, as ``onequbit.apply_dense_1`` does);
* every index expression unsigned from end to end: ``np.uint64`` loop variable *and* offsets
  (``a + np.uint64(2) * j``); one signed term (an int64 base, the literal ``2``) makes the whole
  index signed, Numba adds the wraparound select, and the loop stays scalar;
* the rows a loop reads and writes either as a few separate slices (``f[a:a + 2 * n]``) or as one
  array at distances that are compile-time constants (multiples of ``_LANES``, as ``_acc24``
  does): LLVM checks the overlap of pointers it cannot relate at run time, one check per pair, and
  gives up past 8 ("too many memory checks": 16 row slices in one loop stayed scalar); one array
  at two run-time offsets failed too (4.4 cycles per amplitude instead of 1.7 for complex64);
* the innermost loop is the lane loop: LLVM vectorises innermost loops only.

``llvmlite.binding.set_option("", "-pass-remarks-missed=loop-vectorize")`` before compiling makes
LLVM print why a loop stayed scalar.

Scratch per task: (2 x 2^k + 8) tiles of real numbers and one of indices, at most 74 KiB for k = 5
(twice that with 256 lanes). On a Zen 4, 128 lanes rather than 64 halved the per-call set-up of
the then 4x4 blocks (32 matrix entries broadcast) against their loop: serial, in cache, k=2 1.38
-> 1.18 ns per amplitude (c128) and 0.94 -> 0.71 (c64), k=5 5.97 -> 5.53 and 3.40 -> 3.30; 256
lanes were slower (the rows leave the L1 cache).  With the 2x4 blocks on the AVX-512 Xeon, 256
lanes against 128: within noise either way (two alternating runs, k=2..5), so 128 stays.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange
from numba.extending import register_jitable

from qsim.errors import InternalError
from qsim.kernels.dense_low import low_pair_blocks, natural_order
from qsim.kernels.gates import _insert_zeros
from qsim.kernels.indices import index_array
from qsim.kernels.prefetch import prefetch
from qsim.kernels.tiers import CONTRACT_OPTS, VECTOR_REGISTERS, Contracted

# 2x4 register blocks need 32 vector registers (AVX-512); with 16 (AVX2) they spill, 2x2 fit
_WIDE = VECTOR_REGISTERS >= 32
# base indices per tile: 2^k rows of a tile stay in the first two cache levels; the 2x2 blocks'
# shorter loop bodies want the longer tiles (Zen 3, n=24, two threads: 256 lanes against 128,
# complex64 k=4 3.3 -> 2.5-3.0 ns per amplitude, complex128 k=5 6.9-7.7 -> 5.8-7.1)
_LANES = 128 if _WIDE else 256
_L = np.uint64(_LANES)
_MAX_TASKS = 1024
_MIN_RUN_BYTES = 128   # shorter runs are gathered amplitude by amplitude
_PREFETCH_2Q_RUN_BYTES = 256   # a 2-qubit block's runs from this length on are prefetched
_BLOCK_AREA = 8 if _WIDE else 4   # matrix entries one register-block call takes (2x4 or 2x2)
MAX_TARGETS = 5


def _dense_tiled(state, offsets, fixed, cval, mre, mim, perm):
    """``matrix = mre + i mim`` (2^k x 2^k, big-endian over the targets) on the blocks whose
    ``fixed`` bits other than the targets equal ``cval``.  With a non-empty ``perm`` the matrix is a
    permutation with phases instead: ``new[a] = (mre[0, a] + i mim[0, a]) old[perm[a]]`` (``mre``,
    ``mim`` of shape (1, 2^k)), each output row the phase times a gathered row."""
    f = state.view(mre.dtype)
    count = state.shape[0] >> fixed.shape[0]
    dim = offsets.shape[0]
    mono = perm.shape[0] > 0
    if f.shape[0] != 2 * state.shape[0]:
        raise InternalError("apply_dense_tiled: the matrix's real dtype is not the state's precision")
    if count < _LANES or dim == 2:  # a tiny state (no tile to fill), or one target (never sent
        _dense_small(state, offsets, fixed, cval, mre, mim, perm)  # here: apply_dense_1 has it)
        return
    ntiles = count // _LANES
    ntasks = ntiles if ntiles < _MAX_TASKS else np.int64(_MAX_TASKS)
    if dim == 4 and not mono and fixed.shape[0] == 2 and fixed[0] == 0 and fixed[1] == 1:
        are, aim = natural_order(mre, mim, offsets)   # an uncontrolled block on bits 0 and 1
        for task in prange(ntasks):
            low_pair_blocks(f, are, aim, task * count // ntasks, (task + 1) * count // ntasks)
        return
    run = np.int64(1) << fixed[0]
    contiguous = run >= _LANES
    step = run if run < _LANES else np.int64(_LANES)
    runs = step * 2 * f.itemsize >= _MIN_RUN_BYTES   # a tile row: _LANES / step runs of step
    two = np.uint64(2)
    one = np.uint64(1)
    # the next tile's rows are prefetched while this one is multiplied, ``per_call`` cache lines
    # before each register-block call (not for a 2-qubit block read in runs shorter than 256 B:
    # slower there)
    ahead = runs and (contiguous or dim > 4 or step * 2 * f.itemsize >= _PREFETCH_2Q_RUN_BYTES)
    rows = np.empty(dim, dtype=np.uint64)   # row b of a tile: float index offset 2 offsets[b]
    for b in range(dim):
        rows[b] = two * np.uint64(offsets[b])
    run_lines = two * np.uint64(step) // np.uint64(64 // f.itemsize)
    lines = np.uint64(dim) * _row_lines(f.itemsize)
    calls = dim if mono else (4 if dim == 4 and contiguous else dim * dim // _BLOCK_AREA)
    per_call = lines // np.uint64(calls) + one
    for task in prange(ntasks):
        x = np.empty(2 * dim * _LANES, dtype=mre.dtype)   # row b: real part at 2b L, imaginary at (2b+1) L
        y = np.empty(8 * _LANES, dtype=mre.dtype)         # four output rows, laid out the same way
        base = np.empty(_LANES, dtype=np.uint64)
        nxt = np.empty(_LANES, dtype=np.uint64)           # the next tile's run starts, as float indices
        tend = (task + 1) * ntiles // ntasks
        for tile in range(task * ntiles // ntasks, tend):
            j0 = tile * _LANES
            b0 = np.uint64(_insert_zeros(j0, fixed) | cval)
            cur = np.uint64(0) if ahead and tile + 1 < tend else lines   # at ``lines``: none to issue
            if cur < lines:
                for r in range(0, _LANES, step):
                    nxt[r // step] = two * np.uint64(_insert_zeros(j0 + _LANES + r, fixed) | cval)
            if runs:
                for r in range(0, _LANES, step):
                    base[r // step] = np.uint64(_insert_zeros(j0 + r, fixed) | cval)
            else:
                for r in range(0, _LANES, step):
                    s0 = np.uint64(_insert_zeros(j0 + r, fixed) | cval)
                    for j in range(step):
                        base[r + j] = s0 + np.uint64(j)
            for b in range(dim):   # gather: row b of the tile = the amplitudes base_j + offsets[b]
                o = np.uint64(offsets[b])
                xr = x[2 * b * _LANES:(2 * b + 1) * _LANES]
                xi = x[(2 * b + 1) * _LANES:(2 * b + 2) * _LANES]
                if runs:
                    _runs(f, xr, xi, base, o, step, False)
                else:
                    for j in range(_L):
                        i = two * (base[j] + o)
                        xr[j] = f[i]
                        xi[j] = f[i + one]
            if mono:   # each output row: a phase times a gathered row, straight into the state
                for a in range(dim):
                    cur = _prefetch(f, rows, nxt, run_lines, cur, per_call)
                    _phased_row(f, x, perm[a], mre[0, a], mim[0, a], base, np.uint64(offsets[a]), step, runs)
                continue
            if dim == 4 and contiguous:  # a 2-qubit block: each output row straight into the state
                for a in range(4):
                    cur = _prefetch(f, rows, nxt, run_lines, cur, per_call)
                    start = two * (b0 + np.uint64(offsets[a]))
                    _row_of_4(f[start:start + two * _L], x, mre, mim, a)
                continue
            for a in range(0, dim, 4):   # output rows a..a+3 from column blocks b..b+3
                cur = _four_rows(y, x, mre, mim, a, dim, f, rows, nxt, run_lines, cur, per_call)
                for r in range(4):   # scatter
                    o = np.uint64(offsets[a + r])
                    yr = y[2 * r * _LANES:(2 * r + 1) * _LANES]
                    yi = y[(2 * r + 1) * _LANES:(2 * r + 2) * _LANES]
                    if runs:
                        _runs(f, yr, yi, base, o, step, True)
                    else:
                        for j in range(_L):
                            i = two * (base[j] + o)
                            f[i] = yr[j]
                            f[i + one] = yi[j]


@register_jitable
def _four_rows(y, x, mre, mim, a, dim, f, rows, nxt, run_lines, cur, per_call):
    """Output rows a..a+3 of the block product into ``y``: 2x4 register blocks where the target has
    32 vector registers (AVX-512), 2x2 where it has 16 (AVX2).  Before each block,
    ``per_call`` lines of the next tile are prefetched from line ``cur``; returns the new cursor."""
    for j in range(np.uint64(8) * _L):
        y[j] = 0
    if _WIDE:
        for h in range(0, 4, 2):
            for b in range(0, dim, 4):
                cur = _prefetch(f, rows, nxt, run_lines, cur, per_call)
                _acc24(y, x, mre, mim, a, h, b)
        return cur
    for h in range(0, 4, 2):
        for b in range(0, dim, 2):
            cur = _prefetch(f, rows, nxt, run_lines, cur, per_call)
            _acc22(y, x, mre, mim, a, h, b)
    return cur


@register_jitable
def _row_lines(itemsize):
    """Cache lines (64 B) of one tile row: ``_LANES`` amplitudes of two ``itemsize``-byte floats."""
    return np.uint64(2 * _LANES * itemsize // 64)


@njit(**CONTRACT_OPTS)
def _prefetch(f, rows, starts, run_lines, cur, count):
    """Prefetch ``count`` cache lines of the next tile from line ``cur`` on (lines numbered row by
    row, run by run; a row's runs start at ``starts + rows[b]``, ``run_lines`` lines each) and
    return the line after the last issued, stopping at the tile's end.  Compiled once per
    precision, not inlined into its four call sites: a cold compile of the dense and one-qubit
    kernels took 43 s inlined and 35 s so (as before the prefetch), at the same speed."""
    fpl = np.uint64(64 // f.itemsize)                     # floats per line
    row_lines = _row_lines(f.itemsize)
    lines = np.uint64(rows.shape[0]) * row_lines
    for _ in range(count):
        if cur >= lines:
            return cur
        b = cur // row_lines
        rem = cur - b * row_lines
        r = rem // run_lines
        prefetch(f, starts[r] + rows[b] + (rem - r * run_lines) * fpl)
        cur += np.uint64(1)
    return cur


@register_jitable
def _acc24(y, x, mre, mim, a, h, b):
    """Output rows h, h+1 of ``y`` += rows a+h, a+h+1, columns b..b+3 of the matrix times tile
    rows b..b+3 of ``x``: 16 matrix entries, 8 inputs and 4 sums per lane, 28 of 32 registers."""
    c00 = mre[a + h, b]; c01 = mre[a + h, b + 1]; c02 = mre[a + h, b + 2]; c03 = mre[a + h, b + 3]
    d00 = mim[a + h, b]; d01 = mim[a + h, b + 1]; d02 = mim[a + h, b + 2]; d03 = mim[a + h, b + 3]
    c10 = mre[a + h + 1, b]; c11 = mre[a + h + 1, b + 1]; c12 = mre[a + h + 1, b + 2]; c13 = mre[a + h + 1, b + 3]
    d10 = mim[a + h + 1, b]; d11 = mim[a + h + 1, b + 1]; d12 = mim[a + h + 1, b + 2]; d13 = mim[a + h + 1, b + 3]
    L = _L
    x0 = np.uint64(2) * np.uint64(b) * L
    y0 = np.uint64(2) * np.uint64(h) * L
    for j in range(L):
        p0 = x[x0 + j]
        q0 = x[x0 + L + j]
        p1 = x[x0 + np.uint64(2) * L + j]
        q1 = x[x0 + np.uint64(3) * L + j]
        p2 = x[x0 + np.uint64(4) * L + j]
        q2 = x[x0 + np.uint64(5) * L + j]
        p3 = x[x0 + np.uint64(6) * L + j]
        q3 = x[x0 + np.uint64(7) * L + j]
        y[y0 + j] = y[y0 + j] + c00 * p0 - d00 * q0 + c01 * p1 - d01 * q1 + c02 * p2 - d02 * q2 + c03 * p3 - d03 * q3
        y[y0 + L + j] = y[y0 + L + j] + c00 * q0 + d00 * p0 + c01 * q1 + d01 * p1 + c02 * q2 + d02 * p2 + c03 * q3 + d03 * p3
        y[y0 + np.uint64(2) * L + j] = (y[y0 + np.uint64(2) * L + j] + c10 * p0 - d10 * q0 + c11 * p1 - d11 * q1
                                        + c12 * p2 - d12 * q2 + c13 * p3 - d13 * q3)
        y[y0 + np.uint64(3) * L + j] = (y[y0 + np.uint64(3) * L + j] + c10 * q0 + d10 * p0 + c11 * q1 + d11 * p1
                                        + c12 * q2 + d12 * p2 + c13 * q3 + d13 * p3)


@register_jitable
def _acc22(y, x, mre, mim, a, h, b):
    """Output rows h, h+1 of ``y`` += rows a+h, a+h+1, columns b, b+1 of the matrix times tile
    rows b, b+1 of ``x``: 8 matrix entries, 4 inputs and 4 sums per lane, 16 registers."""
    c00 = mre[a + h, b]; c01 = mre[a + h, b + 1]; c10 = mre[a + h + 1, b]; c11 = mre[a + h + 1, b + 1]
    d00 = mim[a + h, b]; d01 = mim[a + h, b + 1]; d10 = mim[a + h + 1, b]; d11 = mim[a + h + 1, b + 1]
    L = _L
    x0 = np.uint64(2) * np.uint64(b) * L
    y0 = np.uint64(2) * np.uint64(h) * L
    for j in range(L):
        p0 = x[x0 + j]
        q0 = x[x0 + L + j]
        p1 = x[x0 + np.uint64(2) * L + j]
        q1 = x[x0 + np.uint64(3) * L + j]
        y[y0 + j] = y[y0 + j] + c00 * p0 - d00 * q0 + c01 * p1 - d01 * q1
        y[y0 + L + j] = y[y0 + L + j] + c00 * q0 + d00 * p0 + c01 * q1 + d01 * p1
        y[y0 + np.uint64(2) * L + j] = y[y0 + np.uint64(2) * L + j] + c10 * p0 - d10 * q0 + c11 * p1 - d11 * q1
        y[y0 + np.uint64(3) * L + j] = y[y0 + np.uint64(3) * L + j] + c10 * q0 + d10 * p0 + c11 * q1 + d11 * p1


@register_jitable
def _runs(f, xr, xi, starts, o, step, to_state):
    """A tile row (``xr``, ``xi``) from the runs of ``step`` amplitudes at ``starts + o`` of the
    float view ``f``, or back to them with ``to_state``: one unit-stride loop per run
    (vectorised) instead of one indexed load or store per amplitude."""
    ustep = np.uint64(step)
    two = np.uint64(2)
    one = np.uint64(1)
    for r in range(_LANES // step):
        s = two * (starts[r] + o)
        fs = f[s:s + two * ustep]
        xs = xr[r * step:(r + 1) * step]
        ys = xi[r * step:(r + 1) * step]
        if to_state:
            for j in range(ustep):
                fs[two * j] = xs[j]
                fs[two * j + one] = ys[j]
        else:
            for j in range(ustep):
                xs[j] = fs[two * j]
                ys[j] = fs[two * j + one]


@register_jitable
def _phased_row(f, x, src, pr, pi, base, o, step, runs):
    """(``pr`` + i ``pi``) times tile row ``src`` of ``x``, written to the state's runs at ``base +
    o`` (as ``_runs`` does), or amplitude by amplitude when the runs are short."""
    two = np.uint64(2)
    one = np.uint64(1)
    xr = x[2 * src * _LANES:(2 * src + 1) * _LANES]
    xi = x[(2 * src + 1) * _LANES:(2 * src + 2) * _LANES]
    if runs:
        ustep = np.uint64(step)
        for r in range(_LANES // step):
            s = two * (base[r] + o)
            fs = f[s:s + two * ustep]
            xs = xr[r * step:(r + 1) * step]
            ys = xi[r * step:(r + 1) * step]
            for j in range(ustep):
                fs[two * j] = pr * xs[j] - pi * ys[j]
                fs[two * j + one] = pr * ys[j] + pi * xs[j]
    else:
        for j in range(_L):
            i = two * (base[j] + o)
            f[i] = pr * xr[j] - pi * xi[j]
            f[i + one] = pr * xi[j] + pi * xr[j]


@register_jitable
def _row_of_4(out, x, mre, mim, a):
    """Row ``a`` of a 4x4 matrix times the four tile rows of ``x``, written interleaved (real,
    imaginary) into ``out``: one read group and one write group, so one overlap check."""
    c0 = mre[a, 0]; c1 = mre[a, 1]; c2 = mre[a, 2]; c3 = mre[a, 3]
    d0 = mim[a, 0]; d1 = mim[a, 1]; d2 = mim[a, 2]; d3 = mim[a, 3]
    L = _L
    two = np.uint64(2)
    one = np.uint64(1)
    for j in range(L):
        p0 = x[j]
        q0 = x[L + j]
        p1 = x[two * L + j]
        q1 = x[np.uint64(3) * L + j]
        p2 = x[np.uint64(4) * L + j]
        q2 = x[np.uint64(5) * L + j]
        p3 = x[np.uint64(6) * L + j]
        q3 = x[np.uint64(7) * L + j]
        out[two * j] = c0 * p0 - d0 * q0 + c1 * p1 - d1 * q1 + c2 * p2 - d2 * q2 + c3 * p3 - d3 * q3
        out[two * j + one] = c0 * q0 + d0 * p0 + c1 * q1 + d1 * p1 + c2 * q2 + d2 * p2 + c3 * q3 + d3 * p3


@register_jitable
def _dense_small(state, offsets, fixed, cval, mre, mim, perm):
    """The same product (or permutation), one block at a time (fewer blocks than a tile has lanes)."""
    dim = offsets.shape[0]
    xr = np.empty(dim, dtype=mre.dtype)
    xi = np.empty(dim, dtype=mre.dtype)
    for blk in range(state.shape[0] >> fixed.shape[0]):
        b0 = _insert_zeros(blk, fixed) | cval
        for b in range(dim):
            v = state[b0 + offsets[b]]
            xr[b] = v.real
            xi[b] = v.imag
        if perm.shape[0] > 0:
            for a in range(dim):
                c = perm[a]
                state[b0 + offsets[a]] = complex(mre[0, a] * xr[c] - mim[0, a] * xi[c],
                                                 mre[0, a] * xi[c] + mim[0, a] * xr[c])
            continue
        for a in range(dim):
            sr = mre[a, 0] - mre[a, 0]
            si = sr
            for b in range(dim):
                sr += mre[a, b] * xr[b] - mim[a, b] * xi[b]
                si += mre[a, b] * xi[b] + mim[a, b] * xr[b]
            state[b0 + offsets[a]] = complex(sr, si)


apply_dense_tiled = Contracted(_dense_tiled, "apply_dense_tiled")
NO_PERM = index_array(())   # ``perm`` of a dense matrix


def phases_split(phases: np.ndarray, dtype) -> tuple:
    """A monomial's phases as the (1, 2^k) ``mre``, ``mim`` of ``apply_dense_tiled``."""
    return split(np.asarray(phases).reshape(1, -1), dtype)


def split(matrix: np.ndarray, dtype) -> tuple:
    """(real part, imaginary part) of ``matrix`` as contiguous arrays of ``dtype``'s real precision."""
    real = np.float32 if np.dtype(dtype) == np.complex64 else np.float64
    return np.ascontiguousarray(matrix.real, dtype=real), np.ascontiguousarray(matrix.imag, dtype=real)
