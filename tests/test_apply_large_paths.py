"""``apply_unitary`` on states big enough for the parallel kernels and their tiled paths.

``tests/test_kernels.py`` checks every kernel on 4-bit arrays against the dense oracle; those sizes
only reach the serial builds and a single task.  Here the reference is a tensor contraction on the
(2,)*n view of the state (independent of the kernels' index arithmetic), at n = 14 (serial) and
n = 16 (parallel, several tasks), for low bits 0-2 (the unrolled block paths), bit 3 and mid/high
bits (tiles of contiguous pairs), with and without controls.
"""

from __future__ import annotations

import numpy as np
import pytest

from qsim.kernels import gates as KG
from qsim.kernels import onequbit as KO
from qsim.state.apply import apply_unitary


def _reference(psi, n, target_bits, u, ctrl_bits=(), ctrl_vals=()):
    """Apply ``u`` (big-endian over target_bits) by tensordot on the state's (2,)*n view."""
    k = len(target_bits)
    t = psi.reshape((2,) * n)                      # axis a = bit n-1-a
    axes = [n - 1 - b for b in target_bits]
    sub = tuple(slice(None) if a not in [n - 1 - c for c in ctrl_bits] else
                ctrl_vals[[n - 1 - c for c in ctrl_bits].index(a)] for a in range(n))
    out = t.copy()
    block = t[sub]
    # the axes that remain after fixing the controls
    remaining = [a for a in range(n) if not isinstance(sub[a], int)]
    r_axes = [remaining.index(a) for a in axes]
    moved = np.moveaxis(block, r_axes, list(range(k)))
    shape = moved.shape
    new = (u @ moved.reshape(1 << k, -1)).reshape(shape)
    out[sub] = np.moveaxis(new, list(range(k)), r_axes)
    return out.reshape(-1)


def _unitary(k, rng):
    q, r = np.linalg.qr(rng.normal(size=(1 << k, 1 << k)) + 1j * rng.normal(size=(1 << k, 1 << k)))
    return q * (np.diag(r) / np.abs(np.diag(r)))


@pytest.mark.parametrize("n", [14, 16])
def test_one_qubit_dense_every_path(n):
    assert (1 << 14) < KG.PARALLEL_MIN_AMPLITUDES <= (1 << 16)
    rng = np.random.default_rng(n)
    psi = rng.normal(size=1 << n) + 1j * rng.normal(size=1 << n)
    for bit in range(n):  # blocks (0-4), runs, the buffered blocks 1-2 KiB apart (6, 7)
        u = _unitary(1, rng)
        s = psi.copy()
        apply_unitary(s, [bit], u)
        np.testing.assert_allclose(s, _reference(psi, n, [bit], u), atol=1e-12, err_msg=f"bit {bit}")


@pytest.mark.parametrize("n", [14, 16])
def test_controlled_two_qubit_diagonal_and_permutations(n):
    rng = np.random.default_rng(100 + n)
    psi = rng.normal(size=1 << n) + 1j * rng.normal(size=1 << n)
    x = np.array([[0, 1], [1, 0]], dtype=complex)
    rz = np.diag(np.exp([-0.4j, 0.4j]))
    swap = np.eye(4)[[0, 2, 1, 3]].astype(complex)
    cases = [
        ([5], x, [0], [1]), ([0], x, [n - 1], [1]), ([n - 1], x, [3], [0]),                 # cnot-like
        ([2], _unitary(1, rng), [0, n - 1], [1, 0]), ([12], _unitary(1, rng), [13], [1]),   # dense ctrl
        ([7, 1], _unitary(2, rng), [], []), ([n - 1, 0], _unitary(2, rng), [], []),         # dense 2
        ([3, 12], _unitary(2, rng), [0], [1]),
        ([6], rz, [], []), ([0], rz, [9], [1]),                                            # diagonal 1
        ([4, 9], np.diag(np.exp(1j * rng.uniform(-3, 3, 4))), [], []),                      # diagonal k
        ([n - 1, 3], swap, [], []), ([0, 1], swap, [5], [1]),                               # swap
        ([5, 2, 0], _unitary(3, rng), [], []),                                             # dense k
        ([8], np.array([[0, -1j], [1j, 0]]), [], []),                                      # monomial (y)
        ([10], np.diag([1, 1j]), [2], [1]),                                                # phase corner
    ]
    for t, u, cb, cv in cases:
        s = psi.copy()
        apply_unitary(s, t, u, cb, cv)
        np.testing.assert_allclose(s, _reference(psi, n, t, u, cb, cv), atol=1e-12, err_msg=f"{t} {cb} {cv}")


@pytest.mark.parametrize("dtype", [np.complex128, np.complex64])
def test_far_pair_skewed_path(monkeypatch, dtype):
    """apply_dense_1's path for partners >= 256 MiB apart (one side read a ring chunk ahead of the
    other), checked on a small state by lowering the threshold in its one home (``onequbit``; the
    compiled builds froze the constant, so run the Python body; its tasks run compiled), runs
    longer and shorter than a chunk."""
    n = 14
    rng = np.random.default_rng(3)
    psi = (rng.normal(size=1 << n) + 1j * rng.normal(size=1 << n)).astype(dtype)
    tol = 1e-12 if dtype == np.complex128 else 2e-5
    monkeypatch.setattr(KO, "_FAR_BYTES", 1 << 10)
    for bit in (n - 1, n - 3, 12, 9, 6):
        u = _unitary(1, rng)
        s = psi.copy()
        KO.apply_dense_1.py_func(s, np.int64(bit), (u[0, 0], u[0, 1], u[1, 0], u[1, 1]))
        np.testing.assert_allclose(s, _reference(psi.astype(np.complex128), n, [bit], u), atol=tol,
                                   err_msg=f"bit {bit}")


@pytest.mark.parametrize("build", ["compiled", "py_func"])
def test_ring_walk_matches_side_by_side(build):
    """onequbit's ring (``ring_turn``/``ring_drain``, the one walk of far partners, also the pivot
    kernel's) through ``_skewed_run``, compiled and as plain Python, against ``pair_run`` on the
    same two sides: 1, 2, 3 and 5 chunks (every ring slot reused)."""
    rng = np.random.default_rng(5)
    run = KO._skewed_run if build == "compiled" else KO._skewed_run.py_func
    m = rng.normal(size=8)
    c = 16
    for nch in (1, 2, 3, 5):
        x, y = rng.normal(size=2 * c * nch), rng.normal(size=2 * c * nch)
        wx, wy = x.copy(), y.copy()
        KO.pair_run(wx, wy, c * nch, m)
        run(x, y, np.int64(c * nch), m, np.int64(c))
        np.testing.assert_allclose(x, wx, rtol=0, atol=1e-13, err_msg=f"{nch} chunks")
        np.testing.assert_allclose(y, wy, rtol=0, atol=1e-13, err_msg=f"{nch} chunks")


@pytest.mark.parametrize("n", [14, 16])
@pytest.mark.parametrize("precision", ["double", "single"])
def test_dense_blocks_of_every_size_low_mid_and_top_bits(n, precision):
    """Fused blocks (dense on 2..5 targets) wherever they land: the lowest bits (tiles gathered
    from short runs), mid bits (contiguous tiles), the top bits (far partners), mixed, and under a
    control; serial (n=14) and parallel with several tasks (n=16), both precisions."""
    dtype = np.complex128 if precision == "double" else np.complex64
    tol = 1e-12 if precision == "double" else 2e-5
    rng = np.random.default_rng(200 + n)
    psi = rng.normal(size=1 << n) + 1j * rng.normal(size=1 << n)
    psi /= np.linalg.norm(psi)
    for k in range(2, 6):
        placements = [list(range(k - 1, -1, -1)), list(range(n - 1, n - 1 - k, -1)),
                      [n - 1] + list(range(k - 1)), [6 + j for j in range(k)][::-1], [0, n - 1, 5, 9, 3][:k]]
        for t in placements:
            for cb, cv in (([], []), ([b for b in (11, 12) if b not in t][:1], [1])):
                u = _unitary(k, rng)
                s = psi.astype(dtype)
                apply_unitary(s, t, u, cb, cv)
                np.testing.assert_allclose(s, _reference(psi, n, t, u, cb, cv), atol=tol,
                                           err_msg=f"k={k} {t} {cb}")
