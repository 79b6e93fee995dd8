"""Every built-in gate, at every target and control position, with every modifier, against the oracle.

qsim's path: ``GateOp.matrix()`` (qsim's gate table and principal powers) -> ``StateVector.apply``
(kernel chosen from the matrix).  The oracle's path: its own gate table and powers -> a full
2^n x 2^n matrix.  States start random, so every amplitude matters; global phase is compared exactly.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from oracle import ATOL
from oracle import GATES as ORACLE_GATES
from oracle import assert_close, full_operator, op_matrix, random_state, random_unitary, unitary_power
from qsim.circuit import gates as qgates
from qsim.circuit.operations import GateOp
from qsim.state.statevector import StateVector

N = 4
ONE_Q = [n for n, (k, _, _) in ORACLE_GATES.items() if k == 1]
TWO_Q = [n for n, (k, _, _) in ORACLE_GATES.items() if k == 2]
THREE_Q = [n for n, (k, _, _) in ORACLE_GATES.items() if k == 3]


def _seed(text):
    return sum((i + 1) * ord(c) for i, c in enumerate(text))


def _params(name, rng):
    count = 2 if name == "ms" and rng.random() < 0.5 else ORACLE_GATES[name][1]
    return tuple(float(x) for x in rng.uniform(-math.pi, math.pi, count))


def _run_qsim(n, psi, op, precision):
    sv = StateVector(n, precision)
    sv.array[:] = psi.astype(sv.dtype)
    sv.apply(op.targets, op.matrix(), op.controls, op.control_states)
    return sv.state_vector()


def _run_oracle(n, psi, op):
    m = op_matrix(op.name, op.params, op.exponents, op.unitary)
    return full_operator(n, op.targets, m, op.controls, op.control_states) @ psi


def _placements(k, n, max_controls):
    """(targets, controls, states): every ordered target tuple, every control set up to
    ``max_controls`` in every order-insensitive choice, every control state."""
    for targets in itertools.permutations(range(n), k):
        rest = [q for q in range(n) if q not in targets]
        for c in range(min(max_controls, len(rest)) + 1):
            for controls in itertools.combinations(rest, c):
                for states in itertools.product((0, 1), repeat=c):
                    yield targets, controls, states


def test_gate_table_matches_the_oracle_formulas():
    """qsim's matrices (Braket's conventions) against matrices derived independently from formulas."""
    rng = np.random.default_rng(0)
    assert set(qgates.GATES) == set(ORACLE_GATES)
    for name, spec in qgates.GATES.items():
        for _ in range(3):
            p = _params(name, rng)
            assert_close(spec.matrix(*p), op_matrix(name, p), 1e-14, name)
            assert qgates.is_unitary(spec.matrix(*p))


@pytest.mark.parametrize("name", ONE_Q + TWO_Q + THREE_Q)
def test_gate_every_position_and_control(name, precision):
    rng = np.random.default_rng(_seed(name))
    k = ORACLE_GATES[name][0]
    n = N if k < 3 else 5
    psi = random_state(n, rng)
    for targets, controls, states in _placements(k, n, 2):
        op = GateOp(name, targets, _params(name, rng), controls, states)
        assert_close(_run_qsim(n, psi, op, precision), _run_oracle(n, psi, op), ATOL[precision],
                     f"{name}{op.params} targets={targets} controls={controls} states={states}")


EXPONENTS = [(2.0,), (-1.0,), (-2.0,), (3.0,), (0.5,), (-0.5,), (1 / 3,), (0.25,), (1.7,), (0.5, -1.0),
             (-1.0, 0.5), (0.5, 0.5), (0.0,)]


@pytest.mark.parametrize("name", ONE_Q + TWO_Q + THREE_Q)
def test_gate_powers(name, precision):
    """pow(k)@ and inv@ (and nestings, innermost first) as principal powers, with and without controls."""
    rng = np.random.default_rng(_seed(name + "pow"))
    k = ORACLE_GATES[name][0]
    n = k + 1
    psi = random_state(n, rng)
    placements = list(_placements(k, n, 1))
    for exps in EXPONENTS:
        targets, controls, states = placements[rng.integers(len(placements))]
        op = GateOp(name, targets, _params(name, rng), controls, states, exps)
        assert_close(_run_qsim(n, psi, op, precision), _run_oracle(n, psi, op), 10 * ATOL[precision],
                     f"pow{exps} @ {name}{op.params} on {targets} ctrl {controls}={states}")


def test_sqrt_cnot_and_sqrt_swap_exact():
    """The hand-computed values of the cases Braket 1.41.2 gets wrong (pow ignored on cnot/swap)."""
    half = 0.5
    sv = StateVector(2)
    sv.apply((0,), np.array([[0, 1], [1, 0]]))
    sv.apply((0, 1), GateOp("cnot", (0, 1), exponents=(half,)).matrix())
    assert_close(sv.state_vector(), [0, 0, (1 + 1j) / 2, (1 - 1j) / 2], 1e-15)
    sv = StateVector(2)
    sv.apply((0,), np.array([[0, 1], [1, 0]]))
    sv.apply((0, 1), GateOp("swap", (0, 1), exponents=(half,)).matrix())
    # sqrt(swap) = [[1,0,0,0],[0,(1+i)/2,(1-i)/2,0],[0,(1-i)/2,(1+i)/2,0],[0,0,0,1]]
    assert_close(sv.state_vector(), [0, (1 - 1j) / 2, (1 + 1j) / 2, 0], 1e-15)
    for name in ("cnot", "swap", "cz", "ccnot", "cswap"):
        m = GateOp(name, tuple(range(ORACLE_GATES[name][0])), exponents=(0.5,)).matrix()
        assert_close(m @ m, op_matrix(name), 1e-14, f"sqrt({name})^2")


def test_gphase_under_controls():
    """gphase has no target: alone it is a global phase; under ctrl@ a phase on the control subspace."""
    psi = random_state(3, np.random.default_rng(1))
    for controls, states in [((), ()), ((1,), (1,)), ((0, 2), (0, 1)), ((2,), (0,))]:
        op = GateOp("gphase", (), (0.7,), controls, states)
        assert_close(_run_qsim(3, psi, op, "double"), _run_oracle(3, psi, op), 1e-14, str(controls))
        op = GateOp("gphase", (), (0.7,), controls, states, (0.5, -1.0))
        assert_close(_run_qsim(3, psi, op, "double"), _run_oracle(3, psi, op), 1e-14, str(controls))


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_dense_unitaries(k, precision):
    rng = np.random.default_rng(100 + k)
    n = 6
    psi = random_state(n, rng)
    for trial in range(6):
        u = random_unitary(k, rng)
        targets = tuple(int(q) for q in rng.permutation(n)[:k])
        rest = [q for q in range(n) if q not in targets]
        nc = int(rng.integers(0, min(2, len(rest)) + 1))
        controls = tuple(int(q) for q in rng.permutation(rest)[:nc])
        states = tuple(int(s) for s in rng.integers(0, 2, nc))
        exps = [(), (-1.0,), (0.5,)][trial % 3]
        op = GateOp("unitary", targets, (), controls, states, exps, u)
        assert_close(_run_qsim(n, psi, op, precision), _run_oracle(n, psi, op), 10 * ATOL[precision],
                     f"k={k} {targets} {controls}={states} pow{exps}")


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5, 6])
def test_diagonal_unitaries(k, precision):
    """General diagonals, a diagonal with one non-1 entry (a corner phase), and scalars."""
    rng = np.random.default_rng(200 + k)
    n = 6
    psi = random_state(n, rng)
    d = 1 << k
    for diag in (np.exp(1j * rng.uniform(-3, 3, d)),
                 np.where(np.arange(d) == rng.integers(d), np.exp(0.4j), 1.0),
                 np.full(d, np.exp(-0.9j))):
        targets = tuple(int(q) for q in rng.permutation(n)[:k])
        rest = [q for q in range(n) if q not in targets]
        controls = tuple(int(q) for q in rest[:1])
        op = GateOp("unitary", targets, (), controls, (0,) * len(controls), (), np.diag(diag))
        assert_close(_run_qsim(n, psi, op, precision), _run_oracle(n, psi, op), ATOL[precision],
                     f"diag k={k} {targets}")


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_permutation_like_unitaries(k, precision):
    """One non-zero per row: pure permutations (x, swap, cyclic shifts) and permutations with phases."""
    rng = np.random.default_rng(300 + k)
    n = 5
    psi = random_state(n, rng)
    d = 1 << k
    for with_phase in (False, True):
        for _ in range(3):
            perm = rng.permutation(d)
            m = np.zeros((d, d), dtype=complex)
            m[np.arange(d), perm] = np.exp(1j * rng.uniform(-3, 3, d)) if with_phase else 1
            targets = tuple(int(q) for q in rng.permutation(n)[:k])
            rest = [q for q in range(n) if q not in targets]
            controls = tuple(int(q) for q in rest[:int(rng.integers(0, 2))])
            op = GateOp("unitary", targets, (), controls, (1,) * len(controls), (), m)
            assert_close(_run_qsim(n, psi, op, precision), _run_oracle(n, psi, op), ATOL[precision],
                         f"perm k={k} {targets}")


def test_matrices_with_hidden_controls():
    """Matrices that *are* controlled gates (diag(I, U), diag(U, I), kron structures) with targets in
    any order: apply.py turns such targets into controls; the result must not change."""
    rng = np.random.default_rng(9)
    n = 4
    psi = random_state(n, rng)
    u = random_unitary(1, rng)
    z = np.zeros((2, 2))
    cases = {
        "ctrl": np.block([[np.eye(2), z], [z, u]]),
        "negctrl": np.block([[u, z], [z, np.eye(2)]]),
        "ctrl-on-low": np.kron(np.diag([1, 0]), np.eye(2)) + np.kron(np.diag([0, 1]), u),
        "target-low-ctrl": np.eye(4)[[0, 1, 3, 2]] @ np.diag([1, 1, 1, 1j]),
        "ccu": np.block([[np.eye(6), np.zeros((6, 2))], [np.zeros((2, 6)), u]]),
        "cswap-perm": np.eye(8)[[0, 1, 2, 3, 4, 6, 5, 7]],
    }
    for name, m in cases.items():
        k = int(np.log2(m.shape[0]))
        for targets in itertools.permutations(range(n), k):
            op = GateOp("unitary", targets, (), (), (), (), m)
            assert_close(_run_qsim(n, psi, op, "double"), _run_oracle(n, psi, op), 1e-12, f"{name} {targets}")


def test_principal_power_branch():
    """pow(0.5) @ z is s (eigenvalue -1 -> +i, the principal root), pow(-0.5) @ z is si."""
    z = np.diag([1, -1]).astype(complex)
    assert_close(qgates.matrix_power(z, 0.5), np.diag([1, 1j]), 1e-15)
    assert_close(qgates.matrix_power(z, -0.5), np.diag([1, -1j]), 1e-15)
    assert_close(unitary_power(z, 0.5), np.diag([1, 1j]), 1e-15)
    x = np.array([[0, 1], [1, 0]], dtype=complex)
    assert_close(qgates.matrix_power(x, 0.5), op_matrix("v"), 1e-15)
