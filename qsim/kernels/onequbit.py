"""The uncontrolled one-qubit dense kernel, ``apply_dense_1``, and the pair loops it shares with
``qsim.kernels.diagonal``'s pivot kernel: every circuit's hot path, at memory speed on every bit.

Everything runs on the state's float view (re, im, re, im, ...) with unsigned indices, so LLVM
vectorises the pair arithmetic (packed FMAs; see ``qsim.kernels.dense``'s docstring for why both
matter).  ``m`` = (m00r, m00i, m01r, m01i, m10r, m10i, m11r, m11i): the 2x2 matrix viewed as reals
(further entries, as the pivot kernel's ``u`` has, are ignored).

A parallel task is 4096 pairs.  How a task walks its pairs ``(i, i + half)`` depends on how far
apart the partners are (measured at n=26 on the 2-core Zen 4 VM, side by side with one in-place
read-modify-write pass):

* ``half`` < 32 amplitudes: the pairs sit inside blocks of 2..32 amplitudes; a task walks a stretch
  of whole blocks with the block's pairs unrolled (``half`` a literal);
* partners 1-2 KiB apart, ``half`` >= 32 (bits 6-7 of complex128, 7-8 of complex64): walking the
  two runs side by side cost 1.4-1.9 passes.  A task copies 4 KiB of whole blocks into a buffer
  (one sequential read), updates the pairs there and copies it back (one sequential write);
  buffers of 16 KiB and more were as slow as no buffer.  Partners 256-512 B apart go side by side:
  an earlier Zen 3 run had them faster buffered, but three interleaved rounds of both on this Zen 3
  (n=26, against one pass) had them 1.44-1.54 buffered and 1.15-1.20 not (complex128 bit 5),
  1.37-1.53 and 0.99-1.10 (complex64 bits 5 and 6).  The copy into the buffer stalled on memory:
  with the next buffer's lines prefetched while the current one is updated, complex128 bits 6-7
  went 1.48-1.54 -> 1.06-1.19 passes and complex64 bits 7-8 1.27-1.57 -> 1.02-1.26 (Zen 3, n=26,
  best of 7, two rounds interleaved in one process).  Partners 4 KiB apart (walked side by side)
  stay at about 1.2; through an 8 KiB buffer with the prefetch they were no faster;
* partners 256 MiB apart and more (the top bits of a large state): two streams whose addresses
  differ only in bit 28 and above ran at 0.7 of the bandwidth of two streams a few KiB out of step
  (the same streams, the second shifted by 4 KiB: 1.0; by 1 KiB: 0.9), whether walked side by side
  or in buffered tiles of 2-32 KiB.  A task reads each run's first side one chunk (8 KiB) ahead of
  the second through a three-chunk ring, so the two streams are never in step.  This module is the
  one home of far partners, for ``diagonal``'s pivot kernel too: ``far_chunk`` (the threshold and
  the chunk) and ``ring_turn``/``ring_drain`` (the ring), around each caller's own arithmetic;
* otherwise: contiguous runs of pairs, the two sides as two slices (LLVM checks their overlap once
  per run instead of giving up on one array indexed twice).

The per-task loops are compiled once per precision (``_helper``, never inlined by Numba) and shared
by the serial and the parallel builds and by the pivot kernel: the builds themselves are a few lines.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange
from numba.extending import register_jitable

from qsim.kernels.prefetch import prefetch
from qsim.kernels.tiers import CONTRACT_OPTS, Contracted

_helper = njit(**CONTRACT_OPTS)

_PAIRS_PER_TASK = 4096
_LOW_HALF = 32                # below this partner distance (amplitudes) a task walks whole blocks
_NEAR_MIN_BYTES = 1 << 10     # partner distances (bytes) whose blocks go through a buffer ...
_NEAR_MAX_BYTES = 1 << 11
_NEAR_BUFFER_BYTES = 1 << 12  # ... of this size
_FAR_BYTES = 1 << 28          # partner distance (bytes) from which the two sides are read out of step
_SKEW_BYTES = 1 << 13         # how far out of step: one ring chunk (a whole number of the pivot's tiles)

_BLOCKS, _RUNS, _NEAR, _FAR = 0, 1, 2, 3


@register_jitable
def pair_run(x, y, n, m):
    """Pairs (x[j], y[j]) of complex numbers stored as floats, j < n: (x, y) <- m (x, y), in place.

    Every pair loop here is this one, in place.  A loop over separate input and output slices makes
    LLVM check at run time that they do not overlap; called in place (the same slices for both) it
    fails the check and runs its scalar loop (in cache on a Zen 3, 1.6 ns per amplitude at either
    precision, against 0.56 for a NumPy pass)."""
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
def copy(dst, src, n):
    """dst[j] = src[j], j < n (unsigned: a vectorised copy, where a slice assignment costs a
    compilation of Numba's broadcasting machinery)."""
    for j in range(np.uint64(n)):
        dst[j] = src[j]


@register_jitable
def _literal_blocks(x, nblocks, half, m):
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


@_helper
def pair_blocks(x, nblocks, half, m):
    """``m`` on the pairs (j, j + half) of ``nblocks`` consecutive blocks of 2*half amplitudes
    (floats ``x``): unrolled for half = 1..16 (one literal each), two slices per block above.  The one
    dispatcher for pairs inside a stretch of whole blocks (``apply_dense_1``'s low bits, the pivot
    kernel's tiles), compiled once per precision."""
    if half == 1:
        _literal_blocks(x, nblocks, 1, m)
    elif half == 2:
        _literal_blocks(x, nblocks, 2, m)
    elif half == 4:
        _literal_blocks(x, nblocks, 4, m)
    elif half == 8:
        _literal_blocks(x, nblocks, 8, m)
    elif half == 16:
        _literal_blocks(x, nblocks, 16, m)
    else:
        for r in range(0, 4 * half * nblocks, 4 * half):
            pair_run(x[r:r + 2 * half], x[r + 2 * half:r + 4 * half], half, m)


@_helper
def _near_task(x, half, m, nbuf):
    """The pairs of a stretch ``x`` of whole blocks, ``nbuf`` floats (whole blocks) at a time: one
    sequential copy into a buffer, the pairs updated there, one sequential copy back (against
    writing each block's two runs from the buffer: bits 5-7 0.1-0.3 passes less, Zen 3, n=26).
    While a block is updated, the cache lines of the same block of the next buffer's worth are
    prefetched (``qsim.kernels.prefetch``), so its copy in finds them in the cache."""
    buf = np.empty(nbuf, dtype=x.dtype)
    nb = 4 * half
    fpl = 64 // x.itemsize        # floats per cache line
    for g in range(0, x.shape[0], nbuf):
        xg = x[g:g + nbuf]
        copy(buf, xg, nbuf)
        ahead = g + nbuf < x.shape[0]
        for a in range(0, nbuf, nb):
            if ahead:
                for line in range(g + nbuf + a, g + nbuf + a + nb, fpl):
                    prefetch(x, line)
            b = a + 2 * half
            pair_run(buf[a:b], buf[b:a + nb], half, m)
        copy(xg, buf, nbuf)


@register_jitable
def far_chunk(half, itemsize):
    """The ring chunk, in pairs, for partners ``half`` amplitudes apart in a float view of
    ``itemsize``-byte floats if they are far apart (``_FAR_BYTES`` and more), else 0: the one test
    of far partners, ``apply_dense_1``'s and the pivot kernel's.  The chunk is 8 KiB of one side, a
    multiple of the pivot kernel's tiles of 256 amplitudes at either precision."""
    if half * 2 * itemsize >= _FAR_BYTES:
        return np.int64(_SKEW_BYTES) // (2 * itemsize)
    return np.int64(0)


@register_jitable
def ring_turn(x, ring, i, nch, w):
    """Step ``i`` of a walk of side ``x`` (``nch`` chunks of ``w`` floats) through ``ring`` (three
    chunks): writes chunk i - 2 back, reads chunk i + 1 (and chunk 0 at step 0), and returns the
    offset in ``ring`` of chunk i, read a step ago, for the caller's arithmetic with the other side's
    chunk i.  So chunk i is read at step i - 1, updated at step i, written back at step i + 2 (or by
    ``ring_drain``), and ``x``'s stream runs a chunk ahead of the other side's.  Every copy is a
    separate pair of slices (vectorised)."""
    if i == 0:
        copy(ring[0:w], x[0:w], w)
    s1 = ((i + 1) % 3) * w
    if i >= 2:
        copy(x[(i - 2) * w:(i - 1) * w], ring[s1:s1 + w], w)  # chunk i - 2's slot is chunk i + 1's
    if i + 1 < nch:
        copy(ring[s1:s1 + w], x[(i + 1) * w:(i + 2) * w], w)
    return (i % 3) * w


@register_jitable
def ring_drain(x, ring, nch, w):
    """After the walk's last ``ring_turn``: chunks nch - 2 and nch - 1 written back to ``x``."""
    for i in range(nch - 2 if nch >= 2 else 0, nch):
        s = (i % 3) * w
        copy(x[i * w:(i + 1) * w], ring[s:s + w], w)


@_helper
def _skewed_run(x, y, n, m, c):
    """Pairs (x[j], y[j]), j < n, with ``x`` read one chunk of ``c`` pairs ahead of ``y`` through
    the ring (``ring_turn``), so the two streams are never in step."""
    w = 2 * c
    ring = np.empty(3 * w, dtype=x.dtype)
    nch = n // c
    for i in range(nch):
        s = ring_turn(x, ring, i, nch, w)
        pair_run(ring[s:s + w], y[i * w:(i + 1) * w], c, m)
    ring_drain(x, ring, nch, w)


@_helper
def _task(f, q0, per, bit, m, mode, size):
    """Pairs q0 .. q0 + per - 1 (pair q = the q-th index with ``bit`` clear) of the float view ``f``,
    walked as ``mode`` says (see the module docstring); ``size`` = the near buffer's floats or the
    far ring's chunk in pairs."""
    half = np.int64(1) << bit
    if mode == _BLOCKS:
        pair_blocks(f[4 * q0:4 * (q0 + per)], per // half, half, m)
    elif mode == _NEAR:
        _near_task(f[4 * q0:4 * (q0 + per)], half, m, size)
    else:
        run = half if half < per else per
        for q in range(q0, q0 + per, run):
            a = 2 * (((q >> bit) << (bit + 1)) | (q & (half - 1)))
            b = a + 2 * half
            if mode == _FAR:
                _skewed_run(f[a:a + 2 * run], f[b:b + 2 * run], run, m, size if size < run else run)
            else:
                pair_run(f[a:a + 2 * run], f[b:b + 2 * run], run, m)


def _dense_1_float(f, bit, m):
    """The body of ``apply_dense_1`` on the float view ``f`` of the state: tasks of 4096 pairs."""
    half = np.int64(1) << bit
    npairs = f.shape[0] >> 2
    per = np.int64(_PAIRS_PER_TASK) if npairs > _PAIRS_PER_TASK else npairs
    distance = half * 2 * f.itemsize
    size = far_chunk(half, f.itemsize)
    if size > 0:
        mode = _FAR
    elif distance >= _NEAR_MIN_BYTES and distance <= _NEAR_MAX_BYTES and half >= _LOW_HALF and per >= 2 * half:
        mode = _NEAR
        size = np.int64(_NEAR_BUFFER_BYTES) // f.itemsize
        size = size if size > 4 * half else 4 * half
        size = size if size < 4 * per else 4 * per
    elif half >= _LOW_HALF:
        mode = _RUNS
    else:
        mode = _BLOCKS
    for t in prange(npairs // per):
        _task(f, np.int64(t) * per, per, bit, m, mode, size)  # int64 in both builds: one specialisation


class FloatView:
    """A size-tiered kernel over a float-view body: ``apply_dense_1(state, bit, p)``.  ``parallel``,
    ``serial`` and ``py_func`` take the same arguments as the kernel (for tests); each views the
    state as floats and the matrix as 8 reals, then runs the tier's build of ``Contracted(body)``."""

    def __init__(self, body, name):
        builds = Contracted(body, name)
        for tier in ("parallel", "serial", "py_func"):
            setattr(self, tier, self._wrap(getattr(builds, tier)))
        self._builds = builds
        self.__name__ = name

    @staticmethod
    def _wrap(build):
        def run(state, bit, p):
            real = np.float32 if state.dtype == np.complex64 else np.float64
            return build(state.view(real), bit, np.array(p, dtype=state.dtype).view(real))
        return run

    def __call__(self, state, bit, p):
        tier = self._builds.tier(state.shape[0])
        return getattr(self, tier)(state, bit, p)

    def __repr__(self):
        return f"<size-tiered kernel {self.__name__}>"


apply_dense_1 = FloatView(_dense_1_float, "apply_dense_1")
apply_dense_1.__doc__ = """Uncontrolled 2x2 matrix ``p`` = (m00, m01, m10, m11) on ``bit``: the hot path of every circuit.

One flat parallel loop over tasks of 4096 pairs (never a ``prange`` under a serial loop), on the
state's float view with unsigned indices, so the pair arithmetic is packed FMAs; how a task walks its
pairs by their distance is in ``qsim.kernels.onequbit``'s docstring."""
