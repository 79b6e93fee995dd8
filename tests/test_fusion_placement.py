"""Fused blocks of every size (1..5 qubits) on every kind of placement (low bits, high bits, mixed,
spread) at both precisions, through the state's kernel choice, against the dense oracle.

Each case is a run of random one- and two-qubit gates on one chosen set of qubits, so that fusion
makes exactly one block on that set; the state after the fused block must equal the oracle's
product of the gates' full operators.  Qubit q sits at bit n-1-q, so "low bits" are the last
qubits.
"""

from __future__ import annotations

import numpy as np
import pytest

from oracle import full_operator, random_state, random_unitary
from qsim.state import fusion as F
from qsim.state.statevector import StateVector

N = 6
PLACEMENTS = {
    "low": lambda k: list(range(N - k, N)),          # bits 0..k-1
    "high": lambda k: list(range(k)),                # bits n-1..n-k
    "mixed": lambda k: sorted({0, N - 1} | set(range(N // 2 - (k - 2) // 2, N // 2 - (k - 2) // 2 + k - 2)))[:k],
    "spread": lambda k: [0, 2, 4, 5][:k] if k <= 4 else [0, 1, 2, 4, 5],
}
TOL = {"double": 1e-11, "single": 3e-5}


def _gates_on(qubits, rng, count):
    """(targets, matrix, controls, states) items: random one- and two-qubit unitaries on ``qubits``,
    covering every qubit and every neighbouring pair (so the fused block spans all of them)."""
    items = []
    for q in qubits:
        items.append(((q,), random_unitary(1, rng), (), ()))
    for a, b in zip(qubits, qubits[1:]):
        items.append(((b, a), random_unitary(2, rng), (), ()))
    for _ in range(count):
        if len(qubits) > 1 and rng.random() < 0.5:
            a, b = (int(x) for x in rng.choice(qubits, 2, replace=False))
            items.append(((a, b), random_unitary(2, rng), (), ()))
        else:
            items.append(((int(rng.choice(qubits)),), random_unitary(1, rng), (), ()))
    return items


@pytest.mark.parametrize("precision", ["double", "single"])
@pytest.mark.parametrize("place", sorted(PLACEMENTS))
@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_one_fused_block_every_size_and_placement(k, place, precision):
    rng = np.random.default_rng(100 * k + len(place))
    qubits = PLACEMENTS[place](k)
    assert len(set(qubits)) == k
    items = _gates_on(qubits, rng, 3)
    fused = F.fuse_blocks(items, max_qubits=max(k, 2))
    dense = [it for it in fused if np.asarray(it[1]).ndim == 2]
    assert len(dense) == 1 and sorted(dense[0][0]) == sorted(qubits), [it[0] for it in fused]
    psi = random_state(N, rng)
    sv = StateVector(N, precision)
    sv.array[:] = psi
    sv.apply_all(fused)
    want = psi
    for t, m, c, s in items:
        want = full_operator(N, list(t), m, list(c), list(s)) @ want
    np.testing.assert_allclose(sv.state_vector(), want, atol=TOL[precision])


@pytest.mark.parametrize("precision", ["double", "single"])
def test_blocks_of_mixed_sizes_in_one_circuit(precision):
    """Several blocks (2..5 qubits, overlapping qubit sets, controlled and diagonal gates between
    them) in one circuit: the fused run equals the oracle."""
    rng = np.random.default_rng(5)
    items = []
    for qs in ([0, 1], [4, 5, 2], [1, 3, 4, 5], [0, 2, 3, 4, 5], [5], [2, 4]):
        items += _gates_on(qs, rng, 3)
        items.append(((qs[0],), np.diag([1, np.exp(0.3j)]), ((qs[0] + 1) % N,), (1,)))  # cphaseshift
        items.append(((qs[-1],), np.array([[0, 1], [1, 0]], dtype=complex), ((qs[-1] + 3) % N,), (0,)))
    psi = random_state(N, rng)
    want = psi
    for t, m, c, s in items:
        want = full_operator(N, list(t), m, list(c), list(s)) @ want
    for k in (2, 3, 4, 5):
        fused = F.fuse_blocks(items, max_qubits=k)
        sv = StateVector(N, precision)
        sv.array[:] = psi
        sv.apply_all(fused)
        np.testing.assert_allclose(sv.state_vector(), want, atol=TOL[precision], err_msg=f"k={k}")
