"""Fusion (``qsim.state.compile.fuse``) changes the number of passes, never the state.

Random circuits mixing one-qubit, controlled, diagonal, permutation, dense two-qubit and
three-qubit gates, on 6 qubits, run unfused and fused both ways (two-qubit blocks for the single
process, one-qubit runs for the distributed state) must give the same state vector.
"""

from __future__ import annotations

import numpy as np
import pytest

from qsim import Circuit
from qsim.state.compile import _gate_items, fuse
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
    items = [_gate_items(op) for op in c.instructions]
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
    items = [_gate_items(op) for op in c.instructions]
    blocks = fuse(items)
    assert max(len(t) for t, _, _, _ in blocks) == 2
    assert len(blocks) < len(fuse(items, absorb_into_two_qubit=False)) / 2
    np.testing.assert_allclose(_run(blocks, 4), _run(items, 4), atol=1e-12)


def test_diagonal_two_qubit_gates_are_not_densified():
    """cz / cphaseshift keep their quarter-state kernels: the QFT's structure survives fusion."""
    c = Circuit().h(0).cphaseshift(1, 0, 0.5).h(1).cz(0, 1)
    blocks = fuse([_gate_items(op) for op in c.instructions])
    diag = [m for t, m, _, _ in blocks if len(t) == 2 and np.count_nonzero(m - np.diag(np.diagonal(m))) == 0]
    assert diag, blocks
