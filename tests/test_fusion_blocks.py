"""Fusion (``qsim.state.fusion.fuse``) changes the number of passes, never the state.

Random circuits mixing one-qubit, controlled, diagonal, permutation, dense two-qubit and
three-qubit gates, on 6 qubits, run unfused and fused both ways (two-qubit blocks for the single
process, one-qubit runs for the distributed state) must give the same state vector.
"""

from __future__ import annotations

import numpy as np
import pytest

from qsim import Circuit
from qsim.state.fusion import fuse
from qsim.state.lowering import gate_items
from qsim.state.statevector import StateVector


def _random_circuit(n, gates, seed):
    r = np.random.default_rng(seed)
    c = Circuit()
    for _ in range(gates):
        q = [int(x) for x in r.choice(n, 3, replace=False)]
        a = float(r.uniform(0, 2 * np.pi))
        kind = int(r.integers(0, 10))
        if kind == 0:
            c.rx(q[0], a)
        elif kind == 1:
            c.h(q[0])
        elif kind == 2:
            c.cnot(q[0], q[1])
        elif kind == 3:
            c.cz(q[0], q[1])
        elif kind == 4:
            c.cphaseshift(q[0], q[1], a)
        elif kind == 5:
            c.swap(q[0], q[1])
        elif kind == 6:
            c.ccnot(q[0], q[1], q[2])
        elif kind == 7:
            c.xx(q[0], q[1], a)
        elif kind == 8:
            c.ry(q[0], a, control=q[1], control_state=0)
        else:
            c.rz(q[0], a)
    return c


def _run(items, n):
    sv = StateVector(n)
    sv.apply_all(items)
    return sv.state_vector()


@pytest.mark.parametrize("seed", range(12))
def test_fused_state_equals_unfused(seed):
    n = 6
    c = _random_circuit(n, 50, seed)
    items = [gate_items(op) for op in c.instructions]
    ref = _run(items, n)
    blocks = fuse(items, absorb_into_two_qubit=True)
    runs = fuse(items, absorb_into_two_qubit=False)
    np.testing.assert_allclose(_run(blocks, n), ref, atol=1e-12)
    np.testing.assert_allclose(_run(runs, n), ref, atol=1e-12)
    assert len(blocks) <= len(runs) <= len(items)
    # the distributed mode only merges one-qubit gates: its multi-qubit items are the originals
    multi = [it for it in items if len(it[0]) + len(it[2]) > 1]
    assert [it for it in runs if len(it[0]) + len(it[2]) > 1] == multi


def test_brick_layers_collapse_into_two_qubit_blocks():
    c = Circuit()
    for layer in range(4):
        for q in range(4):
            c.rx(q, 0.1 * (q + 1)).ry(q, 0.2).rz(q, 0.3)
        for q in range(layer % 2, 3, 2):
            c.cnot(q, q + 1)
    items = [gate_items(op) for op in c.instructions]
    blocks = fuse(items)
    assert max(len(t) for t, _, _, _ in blocks) == 2
    assert len(blocks) < len(fuse(items, absorb_into_two_qubit=False)) / 2
    np.testing.assert_allclose(_run(blocks, 4), _run(items, 4), atol=1e-12)


def test_diagonal_two_qubit_gates_are_not_densified():
    """cz / cphaseshift keep their quarter-state kernels: the QFT's structure survives fusion."""
    c = Circuit().h(0).cphaseshift(1, 0, 0.5).h(1).cz(0, 1)
    blocks = fuse([gate_items(op) for op in c.instructions])
    diag = [m for t, m, _, _ in blocks if len(t) == 2 and np.count_nonzero(m - np.diag(np.diagonal(m))) == 0]
    assert diag, blocks


# ----------------------------------------------------------------------------- k-qubit and diagonal blocks
from qsim.state import fusion as F  # noqa: E402


@pytest.mark.parametrize("k", [3, 4, 5])
@pytest.mark.parametrize("seed", range(6))
def test_k_qubit_blocks_equal_unfused(k, seed):
    """Dense blocks of up to k qubits and diagonal blocks (``fuse_blocks``) on random circuits of
    every gate kind: same state as gate by gate, blocks within their size."""
    n = 6
    items = [gate_items(op) for op in _random_circuit(n, 60, 100 + seed).instructions]
    blocks = F.fuse_blocks(items, max_qubits=k)
    np.testing.assert_allclose(_run(blocks, n), _run(items, n), atol=1e-12)
    assert len(blocks) < len(items)
    for t, m, c, _ in blocks:
        if np.asarray(m).ndim == 2 and not c:
            assert len(t) <= max(k, 3)  # a ccnot may go out as it came


def _qft_items(n):
    c = Circuit()
    for j in range(n):
        c.h(j)
        for m in range(j + 1, n):
            c.cphaseshift(m, j, np.pi / 2 ** (m - j))
    return [gate_items(op) for op in c.instructions]


def test_qft_controlled_phases_become_diagonal_blocks():
    """After each h the run of controlled phases is one diagonal pass (a vector, not a matrix),
    capped at MAX_DIAGONAL_QUBITS qubits."""
    n = 12
    items = _qft_items(n)
    blocks = F.fuse_blocks(items, max_qubits=3)
    diag = [b for b in blocks if np.asarray(b[1]).ndim == 1]
    assert diag and all(len(t) <= F.MAX_DIAGONAL_QUBITS for t, _, _, _ in diag)
    assert len(blocks) <= 3 * n
    np.testing.assert_allclose(_run(blocks, n), _run(items, n), atol=1e-12)


def test_keep_apart_qubits_are_never_merged():
    n = 6
    items = [gate_items(op) for op in _random_circuit(n, 60, 7).instructions]
    apart = frozenset({0, 5})
    blocks = F.fuse_blocks(items, keep_apart=apart, max_qubits=4)
    for b in blocks:
        if not apart.isdisjoint(tuple(b[0]) + tuple(b[2])):
            assert any(b is it for it in items) or any(
                b[0] == it[0] and b[2] == it[2] and np.array_equal(b[1], it[1]) for it in items)
    np.testing.assert_allclose(_run(blocks, n), _run(items, n), atol=1e-12)


def test_k_block_plan_rebinds_changed_blocks_only():
    """The k-block planner sits behind the same plan/bind API: rebind with new matrices for some
    items equals a fresh bind."""
    n = 6
    r = np.random.default_rng(3)
    items = [gate_items(op) for op in _random_circuit(n, 40, 9).instructions]
    shapes = [F.shape_of(it) for it in items]
    p = F.plan(shapes, max_qubits=4)
    fused = p.bind([it[1] for it in items])
    changed = [i for i, s in enumerate(shapes) if len(s.targets) == 1 and not s.controls and not s.diagonal][:4]
    mats = [it[1] for it in items]
    for i in changed:
        q, _ = np.linalg.qr(r.normal(size=(2, 2)) + 1j * r.normal(size=(2, 2)))
        mats[i] = q
    again = p.rebind(fused, mats, changed)
    fresh = p.bind(mats)
    for a, b in zip(again, fresh):
        np.testing.assert_allclose(np.asarray(a[1]), np.asarray(b[1]), atol=1e-14)


@pytest.mark.parametrize("precision", ["double", "single"])
def test_wide_circuit_fuses_into_k_blocks_both_precisions(precision):
    """At K_BLOCKS_MIN_QUBITS qubits ``fuse`` switches to k-qubit and diagonal blocks: the fused
    state equals the gate-by-gate one at either precision (QFT and random gates)."""
    n = F.K_BLOCKS_MIN_QUBITS
    items = _qft_items(n) + [gate_items(op) for op in _random_circuit(n, 80, 11).instructions]
    blocks = fuse(items)
    assert max(len(t) for t, m, c, _ in blocks if np.asarray(m).ndim == 2) == F.SMALL_STATE_BLOCK_QUBITS
    ref = StateVector(n, precision)
    ref.apply_all(items)
    got = StateVector(n, precision)
    got.apply_all(blocks)
    tol = 1e-10 if precision == "double" else 2e-4
    np.testing.assert_allclose(got.state_vector(), ref.state_vector(), atol=tol)


@pytest.mark.parametrize("k", [3, 4, 5])
def test_brick_layers_fuse_across_layers_into_k_blocks(k):
    """A block that is last on all its qubits moves past the other items to take the next layer's
    cnot: the staggered brick fuses into blocks of k qubits (not pairs), same state."""
    n = 8
    c = Circuit()
    for layer in range(6):
        for q in range(n):
            c.rx(q, 0.1 * (q + 1)).ry(q, 0.2 + layer).rz(q, 0.3)
        for q in range(layer % 2, n - 1, 2):
            c.cnot(q, q + 1)
    items = [gate_items(op) for op in c.instructions]
    blocks = F.fuse_blocks(items, max_qubits=k)
    sizes = [len(t) for t, m, cc, _ in blocks if np.asarray(m).ndim == 2 and not cc]
    assert max(sizes) == k and sizes.count(k) >= len(sizes) / 2, sizes
    assert len(blocks) < len(F.fuse_blocks(items, max_qubits=2))
    np.testing.assert_allclose(_run(blocks, n), _run(items, n), atol=1e-12)
