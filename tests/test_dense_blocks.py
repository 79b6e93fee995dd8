"""The tiled dense kernel (``qsim.kernels.dense``) on states large enough to fill its tiles.

``tests/test_kernels.py`` checks every placement on 6 bits, where a tile is never full and the
one-block-at-a-time path runs.  Here the states have 12 bits (13 where a tile has 256 lanes), so
every k = 1..5 fills at least one tile, and the cases cover both gather paths (the lowest fixed bit
at log2(lanes) or above: each tile row is one contiguous run; below: the tile is assembled from
shorter runs), the 2-qubit path that writes straight into the state, a control of either value
below and above the targets, and every build (parallel, serial, plain Python); and the same
tiles carrying a permutation with phases (a monomial block: rows moved, not multiplied).  The
reference is an independent NumPy tensor contraction over the target axes.
"""

from __future__ import annotations

import numpy as np
import pytest

from oracle import random_state, random_unitary
from qsim.kernels import dense as KD
from qsim.kernels.indices import index_array
from qsim.state.apply import _cval, _fixed, _offsets, apply_unitary

N = KD.MAX_TARGETS + KD._LANES.bit_length() - 1  # 12 or 13: every block size fills a tile
TOL = {np.complex128: 1e-12, np.complex64: 2e-5}


def _reference(state, targets, u, controls=(), values=()):
    """``u`` (big-endian over ``targets``, bit positions) on the amplitudes whose control bits
    equal ``values``, by tensordot on the (n-1-bit) axes of a 2 x ... x 2 view."""
    n = state.shape[0].bit_length() - 1
    k = len(targets)
    t = state.astype(np.complex128).reshape([2] * n)
    axes = [n - 1 - b for b in targets]
    moved = np.moveaxis(t, axes, list(range(k)))
    out = np.tensordot(u.reshape([2] * (2 * k)), moved, axes=(list(range(k, 2 * k)), list(range(k))))
    out = np.moveaxis(out, list(range(k)), axes).reshape(-1)
    if controls:
        idx = np.arange(state.shape[0])
        keep = np.ones(state.shape[0], dtype=bool)
        for b, v in zip(controls, values):
            keep &= ((idx >> b) & 1) == v
        out = np.where(keep, out, state)
    return out


def _cases(k, rng):
    """(targets, controls, values): low, middle and high target bits in a random order, with no
    control, a control below the targets and one above them."""
    for lo in sorted({0, 3, 4, 6, N - k - 1, N - k}):   # 3: runs of 128 B at complex128 only
        chosen = list(range(lo, lo + k))
        if lo == 4 and k > 1:
            chosen = [0] + list(range(lo + 1, lo + k))  # a gap: runs of one amplitude
        targets = [int(b) for b in rng.permutation(chosen)]
        rest = [b for b in range(N) if b not in targets]
        yield targets, (), ()
        yield targets, (rest[0],), (1,)
        yield targets, (rest[-1],), (0,)


BUILDS = [pytest.param("parallel", id="jit"), pytest.param("serial", id="serial"),
          pytest.param("py_func", id="py")]


@pytest.mark.parametrize("build", BUILDS)
@pytest.mark.parametrize("dtype", [np.complex128, np.complex64], ids=["c128", "c64"])
def test_full_tiles_every_block_size(build, dtype):
    assert 1 << (N - KD.MAX_TARGETS) >= KD._LANES  # every block size fills a tile
    f = getattr(KD.apply_dense_tiled, build)
    rng = np.random.default_rng(11)
    psi = random_state(N, rng).astype(dtype)
    for k in range(1, KD.MAX_TARGETS + 1):
        u = random_unitary(k, rng)
        mre, mim = KD.split(u, dtype)
        for targets, controls, values in _cases(k, rng):
            if build == "py_func" and (k > 3 or controls):
                continue  # the compiled builds cover these; plain Python is slow on 4096 amplitudes
            s = psi.copy()
            f(s, _offsets(targets), _fixed(list(controls) + targets), _cval(controls, values), mre, mim, KD.NO_PERM)
            want = _reference(psi, targets, u, controls, values)
            err = np.abs(s - want).max()
            assert err < TOL[dtype], f"k={k} targets={targets} controls={controls}={values}: error {err:.2e}"


def _monomial(k, rng):
    """(perm, phases, matrix): a random permutation with random phases on k qubits,
    ``new[a] = phases[a] * old[perm[a]]``."""
    perm = rng.permutation(1 << k)
    phases = np.exp(1j * rng.uniform(-np.pi, np.pi, 1 << k))
    m = np.zeros((1 << k, 1 << k), dtype=complex)
    m[np.arange(1 << k), perm] = phases
    return perm, phases, m


@pytest.mark.parametrize("build", BUILDS)
@pytest.mark.parametrize("dtype", [np.complex128, np.complex64], ids=["c128", "c64"])
def test_monomial_rows_every_block_size(build, dtype):
    """With a permutation, the tiled kernel writes each output row as a phase times a gathered row:
    every block size, low, middle and high targets (runs of a tile, of 2^b, of one amplitude),
    with and without a control, against the dense product of the same matrix."""
    f = getattr(KD.apply_dense_tiled, build)
    rng = np.random.default_rng(12)
    psi = random_state(N, rng).astype(dtype)
    for k in range(2, KD.MAX_TARGETS + 1):
        perm, phases, m = _monomial(k, rng)
        mre, mim = KD.phases_split(phases, dtype)
        for targets, controls, values in _cases(k, rng):
            if build == "py_func" and (k > 3 or controls):
                continue
            s = psi.copy()
            f(s, _offsets(targets), _fixed(list(controls) + targets), _cval(controls, values), mre, mim,
              index_array(perm))
            err = np.abs(s - _reference(psi, targets, m, controls, values)).max()
            assert err < TOL[dtype], f"k={k} targets={targets} controls={controls}={values}: error {err:.2e}"


def test_monomial_gates_take_the_tiled_rows(monkeypatch):
    """``apply_unitary`` sends a permutation with phases on 2..5 targets (controls folded out) whose
    lowest fixed bit is 4 or above to the tiled kernel's row permutation, lower ones to the block
    loop, and both match the dense oracle; a cnot ladder's fused block is one."""
    calls = []
    real = KD.apply_dense_tiled
    monkeypatch.setattr(KD, "apply_dense_tiled", lambda *a: (calls.append(a[-1].shape[0]), real(*a)))
    rng = np.random.default_rng(13)
    psi = random_state(N, rng)
    ladder = np.eye(16)
    for c in range(3):   # cnot(c, c+1) on 4 qubits, big-endian
        step = np.zeros((16, 16))
        for a in range(16):
            step[a ^ (1 << (2 - c)) if (a >> (3 - c)) & 1 else a, a] = 1
        ladder = step @ ladder
    cases = (([9, 4, 6, 11], ladder, True), ([5, 4, 8], _monomial(3, rng)[2], True), ([7, 10], _monomial(2, rng)[2], True),
             ([9, 4, 2, 11], ladder, False), ([1, 0, 5], _monomial(3, rng)[2], False))
    for targets, m, tiled in cases:
        s = psi.copy()
        calls.clear()
        apply_unitary(s, targets, m)
        assert calls == ([len(m)] if tiled else []), f"{targets}: kernel calls {calls}"
        np.testing.assert_allclose(s, _reference(psi, targets, m), atol=1e-12, err_msg=f"{targets}")


@pytest.mark.parametrize("wide", [True, False], ids=["4x4", "2x2"])
def test_both_register_blockings(monkeypatch, wide):
    """The compiled builds use the blocking of the machine they are compiled on (4x4 with AVX-512,
    2x2 without); the plain-Python body runs the other one too.  k = 3 has several column blocks
    per output row, k = 4 several row blocks; one case gathers contiguous rows, one runs of 16."""
    monkeypatch.setattr(KD, "_WIDE", wide)
    rng = np.random.default_rng(5)
    psi = random_state(N, rng)
    for k, lo in ((3, 8), (4, 4)):
        u = random_unitary(k, rng)
        targets = [int(b) for b in rng.permutation(range(lo, lo + k))]
        mre, mim = KD.split(u, np.complex128)
        s = psi.copy()
        KD.apply_dense_tiled.py_func(s, _offsets(targets), _fixed(targets), _cval((), ()), mre, mim, KD.NO_PERM)
        np.testing.assert_allclose(s, _reference(psi, targets, u), atol=1e-12, err_msg=f"k={k} {targets}")


@pytest.mark.parametrize("build", BUILDS)
@pytest.mark.parametrize("dtype", [np.complex128, np.complex64], ids=["c128", "c64"])
def test_a_block_on_the_two_lowest_bits(build, dtype, monkeypatch):
    """An uncontrolled 2-qubit block on bits 0 and 1 runs block by block on its four contiguous
    amplitudes (``qsim.kernels.dense_low``), in either order of the targets; with a control it stays
    on the tiles.  Both match the tensor contraction."""
    import qsim.kernels.dense_low as low

    calls = []
    if build == "py_func":   # the compiled builds inline the function; count calls of the Python one
        real = low.low_pair_blocks
        monkeypatch.setitem(KD._dense_tiled.__globals__, "low_pair_blocks",
                            lambda *a: (calls.append(1), real(*a)))
    f = getattr(KD.apply_dense_tiled, build)
    rng = np.random.default_rng(14)
    psi = random_state(N, rng).astype(dtype)
    for targets, controls, values in (([0, 1], (), ()), ([1, 0], (), ()), ([1, 0], (5,), (1,)), ([0, 1], (N - 1,), (0,))):
        u = random_unitary(2, rng)
        mre, mim = KD.split(u, dtype)
        s = psi.copy()
        calls.clear()
        f(s, _offsets(targets), _fixed(list(controls) + targets), _cval(controls, values), mre, mim, KD.NO_PERM)
        err = np.abs(s - _reference(psi, targets, u, controls, values)).max()
        assert err < TOL[dtype], f"targets={targets} controls={controls}: error {err:.2e}"
        if build == "py_func":
            assert bool(calls) == (not controls), f"targets={targets} controls={controls}: {len(calls)} block calls"


@pytest.mark.parametrize("build", BUILDS)
def test_a_matrix_of_the_wrong_precision_is_refused(build):
    """The kernel reads the state through a float view of the matrix's dtype: a complex64 state
    with a float64 matrix (or the reverse) would be read and written past its end, so it is an
    internal error before anything is touched."""
    from qsim.errors import InternalError

    f = getattr(KD.apply_dense_tiled, build)
    rng = np.random.default_rng(15)
    for dtype, other in ((np.complex64, np.complex128), (np.complex128, np.complex64)):
        psi = random_state(N, rng).astype(dtype)
        s = psi.copy()
        mre, mim = KD.split(random_unitary(2, rng), other)
        with pytest.raises(InternalError, match="precision"):
            f(s, _offsets([3, 7]), _fixed([3, 7]), _cval((), ()), mre, mim, KD.NO_PERM)
        np.testing.assert_array_equal(s, psi)
