"""Pivot blocks (``qsim.state.pivot``): a one-qubit gate and the diagonal after it, one pass.

The kernel is checked against a NumPy tensor contraction at every pivot bit (both loop shapes:
the pivot inside or above the low 8-bit chunk) and random bit placements, in its plain-Python,
serial and parallel builds, at both precisions; the planner on the QFT's shapes; fused circuits
against the same circuits run gate by gate (every gate a separate kernel, no fusion), and a pivot
block's ``matrix`` against the dense oracle's product of its members.
"""

from __future__ import annotations

import numpy as np
import pytest

import qsim
from oracle import full_operator
from qsim.kernels import diagonal as KD
from qsim.kernels import onequbit as KO
from qsim.state import fusion as F
from qsim.state import pivot as P

TOL = {"double": 1e-11, "single": 2e-5}
DTYPE = {"double": np.complex128, "single": np.complex64}


def _random_block(rng, k, with_u=True):
    u = np.linalg.qr(rng.normal(size=(2, 2)) + 1j * rng.normal(size=(2, 2)))[0] if with_u else None
    factors = np.exp(1j * rng.uniform(-np.pi, np.pi, size=(2, k - 1, 2)))
    return P.PivotPhases(0, u, list(range(1, k)), factors, np.exp(1j * rng.uniform(-np.pi, np.pi, 2)))


def _reference(state, block, bits):
    """``block`` on ``state`` with block qubit j at bit ``bits[j]``: u on the pivot's axis by
    tensordot, then the block's diagonal (``PivotPhases.diagonal``) elementwise."""
    n = len(bits)
    t = state.astype(np.complex128).reshape([2] * n)
    axes = [n - 1 - int(b) for b in bits]
    t = np.moveaxis(t, axes, list(range(n)))
    if block.u is not None:
        t = np.tensordot(block.u, t, axes=([1], [0]))
    t = (t.reshape(-1) * block.diagonal()).reshape([2] * n)
    return np.moveaxis(t, list(range(n)), axes).reshape(-1)


# Every build at one precision at least (each compiled build of each precision costs CI seconds on a
# cold cache; the parallel complex128 one also runs in test_fused_circuits_match_gate_by_gate).
@pytest.mark.parametrize(("precision", "build"), [(p, b) for p in ("double", "single") for b in ("py_func", "far")]
                         + [("double", "serial"), ("single", "parallel")])
def test_kernel_every_pivot_bit(precision, build, rng, monkeypatch):
    n = 4 if build == "py_func" else 12 if build == "far" else 11
    if build == "far":  # the plain-Python body with partners "far apart" from 2 KiB (the one home,
        # onequbit.far_chunk, read at call time) and ring chunks of 4 KiB: 1-8 chunks a run, its
        # tasks compiled
        monkeypatch.setattr(KO, "_FAR_BYTES", 2048)
        monkeypatch.setattr(KO, "_SKEW_BYTES", 4096)
        assert KO.far_chunk(np.int64(1 << (n - 1)), np.dtype(DTYPE[precision]).itemsize // 2) > 0
    kernel = getattr(KD.apply_pivot_phases, "py_func" if build == "far" else build)
    real = np.float64 if precision == "double" else np.float32
    for pbit in range(n):
        block = _random_block(rng, n, with_u=pbit % 3 != 0)
        rest = [int(b) for b in rng.permutation([b for b in range(n) if b != pbit])]
        state = (rng.normal(size=1 << n) + 1j * rng.normal(size=1 << n)).astype(DTYPE[precision])
        want = _reference(state, block, [pbit] + rest)
        u, tre, tim = P.tables(block, pbit, rest, n, real)
        kernel(state.view(real), np.int64(pbit), u, tre, tim)
        np.testing.assert_allclose(state, want, rtol=0, atol=TOL[precision] * 10, err_msg=f"pivot bit {pbit}")


@pytest.mark.parametrize("precision", ["double", "single"])
@pytest.mark.parametrize("build", ["compiled", "py_func"])
def test_high_task_far_ring_walk(precision, build, rng):
    """The far path of the pivot's high tasks (one side a ring chunk ahead of the other, through
    onequbit's ring) with the ring chunk passed in, compiled and as plain Python: chunks of one and
    two tiles, one to eight chunks a run, and a run shorter than a chunk."""
    n = 12
    real = np.float64 if precision == "double" else np.float32
    task = KD._high_task if build == "compiled" else KD._high_task.py_func
    per = np.int64(KD._PAIRS_PER_TASK)
    for pbit, skew in ((8, 512), (9, 256), (10, 512), (11, 256), (11, 512)):
        block = _random_block(rng, n, with_u=pbit != 10)
        rest = [int(b) for b in rng.permutation([b for b in range(n) if b != pbit])]
        state = (rng.normal(size=1 << n) + 1j * rng.normal(size=1 << n)).astype(DTYPE[precision])
        want = _reference(state, block, [pbit] + rest)
        u, tre, tim = P.tables(block, pbit, rest, n, real)
        for t in range((1 << (n - 1)) // per):
            task(state.view(real), np.int64(t), per, np.int64(pbit), u, tre, tim, np.int64(skew))
        np.testing.assert_allclose(state, want, rtol=0, atol=TOL[precision] * 10, err_msg=f"pivot bit {pbit}")


def test_build_and_fold_against_the_oracle(rng):
    """``build`` from h, rz, cz-like and controlled-phase members equals the oracle's product; and
    ``fold`` with a qubit's value fixed equals that slice of the block."""
    h = np.array([[1, 1], [1, -1]]) / np.sqrt(2)
    cp = np.diag([1, 1, 1, np.exp(0.7j)])
    zz = np.diag(np.exp(1j * np.array([0.1, -0.4, 0.9, 0.3])))
    rz = np.diag(np.exp(1j * np.array([-0.25, 0.25])))
    members = [((1,), h, False), ((1, 0), cp, True), ((2, 1), zz, True), ((1,), rz, True), ((0,), rz, True),
               ((1, 3), np.diag(zz), True)]
    block = P.build(1, members)
    assert block.qubits == (1, 0, 2, 3)
    want = np.eye(16, dtype=complex)
    for qubits, m, _ in members:
        m = np.asarray(m)
        want = full_operator(4, list(qubits), np.diag(m) if m.ndim == 1 else m) @ want
    # the block's matrix is over qubits (1, 0, 2, 3): the oracle's (over 0..3) with 0 and 1 swapped
    perm = [int(f"{i:04b}"[1] + f"{i:04b}"[0] + f"{i:04b}"[2:], 2) for i in range(16)]
    np.testing.assert_allclose(block.matrix(), want[np.ix_(perm, perm)], atol=1e-12)
    folded = block.fold({2: 1})
    assert folded.qubits == (1, 0, 3)
    full = block.diagonal().reshape(2, 2, 2, 2)
    np.testing.assert_allclose(folded.diagonal(), full[:, :, 1, :].reshape(-1), atol=1e-12)


def _qft_shapes(n):
    c = qsim.Circuit()
    for j in range(n):
        c.h(j)
        for k in range(j + 1, n):
            c.cphaseshift(k, j, np.pi / (1 << (k - j)))
    return c


def test_qft_plans_one_block_per_stage():
    n = F.PIVOT_MIN_QUBITS + 1
    c = _qft_shapes(n)
    shapes = [F.shape_of((op.targets, op.matrix(), op.controls, op.control_states)) for op in c.instructions]
    p = F.plan(shapes)
    pivots = [e for e in p.entries if isinstance(e, F.Block) and e.ops[0][0] == "pivot"]
    assert len(pivots) == n - 1  # the last h has no phases after it
    assert [e.qubits[0] for e in pivots] == list(range(n - 1))
    assert sorted(m for e in p.entries for m in p.members(p.entries.index(e))) == list(range(len(shapes)))


def test_a_one_qubit_run_ending_in_rz_stays_dense():
    """rx, ry, rz on fresh qubits then a cnot brick (the random brick circuit's first layer): the rz
    must not turn its qubit's one-qubit block into a pivot, which would keep the cnot from fusing
    with it (one pass per qubit wasted).  Every gate lands in a dense block of two qubits or more."""
    n = F.PIVOT_MIN_QUBITS + 1
    c = qsim.Circuit()
    for q in range(n):
        c.rx(q, 0.3 + q).ry(q, 0.2 * q).rz(q, 1.1 - q)
    for q in range(0, n - 1, 2):
        c.cnot(q, q + 1)
    shapes = [F.shape_of((op.targets, op.matrix(), op.controls, op.control_states)) for op in c.instructions]
    p = F.plan(shapes, max_qubits=4)
    assert all(isinstance(e, F.Block) and e.ops[0][0] == "eye" and len(e.qubits) >= 2 for e in p.entries)
    assert sorted(m for j in range(len(p.entries)) for m in p.members(j)) == list(range(len(shapes)))


def _mixed_circuit(n, rng):
    """Rotations, the QFT's stages, and diagonals (rz, cz, zz, cphaseshift with either qubit first)
    around them, with a few cnots that end pivot blocks."""
    c = qsim.Circuit()
    for q in range(n):
        c.ry(q, float(rng.uniform(0, np.pi)))
    for j in range(n):
        c.h(j)
        for k in range(j + 1, n):
            if rng.random() < 0.7:
                c.cphaseshift(*((k, j) if rng.random() < 0.5 else (j, k)), float(rng.uniform(-3, 3)))
        if rng.random() < 0.3:
            c.rz(int(rng.integers(n)), float(rng.uniform(-3, 3)))
        if rng.random() < 0.3:
            c.zz(j, int((j + 1 + rng.integers(n - 1)) % n), float(rng.uniform(-3, 3)))
        if rng.random() < 0.2:
            c.cnot(j, (j + 1) % n)
        if rng.random() < 0.2:
            c.cz(j, (j + 2) % n)
    return c.state_vector()


@pytest.mark.parametrize("precision", ["double", "single"])
def test_fused_circuits_match_gate_by_gate(precision, rng):
    n = F.PIVOT_MIN_QUBITS
    calls = []
    real = P.apply

    def counting(*a):
        calls.append(1)
        return real(*a)

    P.apply = counting
    try:
        for _ in range(2):
            c = _mixed_circuit(n, rng)
            fused = np.asarray(qsim.device(precision=precision).run(c).result().values[0])
            plain = np.asarray(qsim.device(precision=precision, fusion=False).run(c).result().values[0])
            np.testing.assert_allclose(fused, plain, rtol=0, atol=TOL[precision])
    finally:
        P.apply = real
    assert calls, "no pivot block ran"
