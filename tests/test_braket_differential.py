"""Differential tests: the same OpenQASM programs on qsim and on Braket's local state-vector simulator
(amazon-braket-default-simulator 1.41.2, a test-only dependency), with the dense oracle as referee.

Where Braket is right, qsim must agree with it to 1e-10 (state vectors exactly, global phase
included).  Where Braket 1.41.2 is known to be wrong, qsim must agree with the oracle, and the test
also asserts — documenting the defect — what Braket returns instead:

  (1) ctrl@/negctrl@ gates silently dropped for some control/target positions (<= 10 qubits) and a
      Numba TypingError for them on 11+ qubits;
  (2) pow@ ignored on cnot and swap, for every exponent, also under ctrl@;
  (3) pow@ on a custom gate powers each gate of its body separately;
  (4) gphase inside a custom gate ignores ctrl@/inv@/pow@ on that gate;
  (5) reset of an entangled qubit is not physical;
  (6) probability with 3+ targets in a non-involutive order comes back permuted;
  (7) parse errors carry no message or line, and `cnot q[0];` / `cnot q[1], q[1];` are accepted.

Programs are written by ``Prog``, which emits the OpenQASM text and, alongside it, the same operations
as qsim ``GateOp`` data for the oracle — so the oracle never depends on qsim's OpenQASM parser.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import qsim
from oracle import GATES as ORACLE_GATES
from oracle import Oracle, assert_close, full_operator, marginal, op_matrix, random_unitary, unitary_power
from qsim import Circuit, ProgramError
from qsim.circuit.operations import GateOp

import braket.default_simulator as braket_sim  # noqa: E402  (a test dependency)
from braket.ir.openqasm import Program  # noqa: E402

SV = braket_sim.StateVectorSimulator()
DEV = qsim.device("local:qsim/statevector")
TOL = 1e-10


def braket(source, shots=0, inputs=None):
    res = SV.run(Program(source=source, inputs=inputs), shots=shots)
    return [getattr(r, "value", None) for r in res.resultTypes or ()], res


def qsim_values(source, shots=0, inputs=None, seed=None):
    return DEV.run(source, shots=shots, inputs=inputs, seed=seed).result().values


def _fmt(x):
    return repr(float(x))


class Prog:
    """An OpenQASM program and the same operations as oracle data, built together."""

    def __init__(self, n):
        self.n = n
        self.lines = ["OPENQASM 3.0;", f"qubit[{n}] q;"]
        self.circuit = Circuit([GateOp("i", (k,)) for k in range(n)])
        self.results = []

    def gate(self, name, targets=(), params=(), controls=(), states=(), exps=(), qasm_name=None):
        mods = "".join(("ctrl @ " if s else "negctrl @ ") for s in states)
        mods += "".join("inv @ " if e == -1 and k % 2 else f"pow({_fmt(e)}) @ " for k, e in enumerate(exps))
        args = f"({', '.join(_fmt(p) for p in params)})" if params else ""
        qubits = ", ".join(f"q[{k}]" for k in tuple(controls) + tuple(targets))
        self.lines.append(f"{mods}{qasm_name or name}{args}{' ' + qubits if qubits else ''};")
        self.circuit.add(GateOp(name, tuple(targets), tuple(params), tuple(controls), tuple(states), tuple(exps)))
        return self

    def prep(self, seed=0):
        """A generic entangled state, so no amplitude is trivially zero."""
        rng = np.random.default_rng(seed)
        for k in range(self.n):
            self.gate("ry", (k,), (float(rng.uniform(0.2, 2.9)),))
            self.gate("rz", (k,), (float(rng.uniform(-3, 3)),))
        for k in range(self.n - 1):
            self.gate("cnot", (k, k + 1))
        return self

    def raw(self, line):
        self.lines.append(line)
        return self

    def result(self, text):
        self.lines.append(f"#pragma braket result {text}")
        return self

    @property
    def source(self):
        return "\n".join(self.lines) + "\n"

    def oracle_state(self):
        return Oracle(self.circuit).state_vector()


def _check(prog, expect_braket_ok=True):
    """qsim == oracle always; qsim == Braket if ``expect_braket_ok``; returns Braket's state vector."""
    src = prog.result("state_vector").source
    want = prog.oracle_state()
    got = qsim_values(src)[0]
    assert_close(got, want, TOL, f"qsim vs oracle\n{src}")
    b = braket(src)[0][0]
    if expect_braket_ok:
        assert_close(b, want, TOL, f"braket vs oracle\n{src}")
    return b, want


def _params(name, seed):
    k = ORACLE_GATES[name][1]
    return tuple(float(x) for x in np.random.default_rng(seed).uniform(-3, 3, k))


# ----------------------------------------------------------------------------- agreement
@pytest.mark.parametrize("name", sorted(n for n in ORACLE_GATES if n != "gphase"))
def test_every_gate_agrees(name):
    k = ORACLE_GATES[name][0]
    placements = {1: [(0,), (2,)], 2: [(0, 2), (2, 1)], 3: [(2, 0, 1), (0, 1, 2)]}[k]
    for i, targets in enumerate(placements):
        _check(Prog(3).prep(i).gate(name, targets, _params(name, i)))


def test_ms_with_its_optional_angle_and_gphase():
    _check(Prog(2).prep().gate("ms", (1, 0), (0.3, -0.7)))
    _check(Prog(2).prep().gate("ms", (1, 0), (0.3, -0.7, 1.1)))
    _check(Prog(2).prep().gate("gphase", (), (0.9,)).gate("U", (1,), (0.1, 0.2, 0.3)))
    _check(Prog(2).prep().gate("gphase", (), (0.9,), controls=(1,), states=(1,)))


@pytest.mark.parametrize("exps", [(-1.0,), (2.0,), (-2.0,), (0.5,), (-0.5,), (1 / 3,), (2.0, -1.0)])
@pytest.mark.parametrize("name", ["x", "h", "t", "rx", "U", "iswap", "xx", "cphaseshift", "ecr", "ccnot"])
def test_pow_and_inv_agree_except_on_cnot_and_swap(name, exps):
    k = ORACLE_GATES[name][0]
    targets = tuple(range(3 - k, 3)) if name != "iswap" else (2, 0)
    _check(Prog(3).prep(1).gate(name, targets, _params(name, 4), exps=exps))


def test_controls_agree_where_braket_handles_the_position():
    """Controls before targets in ascending order (the common case) are handled by Braket."""
    for name in ("x", "y", "h", "rx", "swap", "cphaseshift", "U"):
        k = ORACLE_GATES[name][0]
        targets = tuple(range(4 - k, 4))
        for states in ((1,), (0,), (1, 0), (0, 0)):
            controls = tuple(range(len(states)))
            if len(controls) + k > 4:
                continue
            _check(Prog(4).prep(2).gate(name, targets, _params(name, 5), controls, states))


def test_unitary_pragma_and_inputs_agree():
    u = random_unitary(2, np.random.default_rng(3))
    rows = ", ".join("[" + ", ".join(f"{float(z.real)!r} {'+' if z.imag >= 0 else '-'} {abs(float(z.imag))!r}im"
                                     for z in row) + "]" for row in u)
    p = Prog(3).prep()
    p.raw(f"#pragma braket unitary([{rows}]) q[2], q[0]")
    p.circuit.add(GateOp("unitary", (2, 0), unitary=u))
    _check(p)
    src = ("OPENQASM 3.0;\ninput float theta;\ninput float phi;\nqubit[2] q;\nrx(theta) q[0];\n"
           "ctrl @ ry(phi) q[0], q[1];\n#pragma braket result state_vector\n")
    inputs = {"theta": 0.7, "phi": -1.3}
    assert_close(qsim_values(src, inputs=inputs)[0], braket(src, inputs=inputs)[0][0], TOL)


RESULT_PRAGMAS = [
    "probability", "probability q[1]", "probability q[0], q[2]", "probability q[2], q[0]",
    "probability q[0], q[1], q[2]", "density_matrix", "density_matrix q[1]", "density_matrix q[0], q[2]",
    "density_matrix q[2], q[0]", 'amplitude "000", "101", "110"', "expectation z(q[0])",
    "expectation x(q[1]) @ y(q[2])", "expectation h(q[2]) @ z(q[0])", "variance y(q[1])",
    "variance x(q[0]) @ z(q[1]) @ y(q[2])", "expectation z all", "variance x all", "expectation h all",
    "expectation hermitian([[2, 1-1im], [1+1im, -1]]) q[1]",
    "variance hermitian([[1, 0, 0, 1im], [0, 2, 0, 0], [0, 0, 3, 0], [-1im, 0, 0, 0]]) q[2], q[0]",
    "expectation hermitian([[0, 1], [1, 0]]) q[0] @ z(q[2])",
]


@pytest.mark.parametrize("pragma", RESULT_PRAGMAS)
def test_result_types_agree(pragma):
    src = Prog(3).prep(7).gate("h", (1,)).result(pragma).source
    q, b = qsim_values(src)[0], braket(src)[0][0]
    if isinstance(b, dict):
        assert set(q) == set(b)
        for key in b:
            assert abs(q[key] - complex(b[key])) < TOL
    else:
        assert_close(np.asarray(q), np.asarray(b), TOL, pragma)


def test_sampled_results_agree_statistically():
    """Same program with shots on both (Braket leaves sampled values to its SDK, so its probabilities
    are counted from its measurements): within a few binomial sigmas, and only from the support."""
    src = Prog(3).prep(1).result("probability").source
    shots = 4000
    q = np.asarray(qsim_values(src, shots=shots, seed=3)[0])
    rows = np.asarray(braket(src, shots=shots)[1].measurements).astype(int)
    b = np.bincount(rows @ np.array([4, 2, 1]), minlength=8) / shots
    exact = np.abs(Prog(3).prep(1).oracle_state()) ** 2
    assert np.all(q[exact < 1e-15] == 0) and np.all(b[exact < 1e-15] == 0)
    sigma = np.sqrt(exact * (1 - exact) / shots)
    assert np.all(np.abs(q - exact) < 5 * sigma + 1e-12)
    assert np.all(np.abs(b - exact) < 5 * sigma + 1e-12)


def test_feed_forward_with_shots_agrees():
    src = ("OPENQASM 3.0;\nbit[2] b;\nqubit[2] q;\nh q[0];\nb[0] = measure q[0];\n"
           "if (b[0]) { x q[1]; }\nb[1] = measure q[1];\n")
    res_q = DEV.run(src, shots=400, seed=1).result()
    res_b = braket(src, shots=400)[1]
    assert set(res_q.measurement_counts) == {"00", "11"}
    assert {"".join(map(str, m)) for m in res_b.measurements} == {"00", "11"}
    # and qsim gives the exact ensemble with shots=0 (Braket 1.41.2 raises here)
    exact = DEV.run(src + "#pragma braket result probability\n", shots=0).result().values[0]
    assert_close(exact, [0.5, 0, 0, 0.5], 1e-14)


def test_qubit_remapping_agrees():
    src = "OPENQASM 3.0;\nqubit[8] q;\nh q[6];\ncnot q[6], q[2];\nrx(0.3) q[2];\n#pragma braket result state_vector\n"
    assert_close(qsim_values(src)[0], braket(src)[0][0], TOL)
    assert len(qsim_values(src)[0]) == 4
    src2 = src.replace("#pragma braket result state_vector\n", "measure q[6];\nmeasure q[2];\n")
    assert DEV.run(src2, shots=10, seed=1).result().measured_qubits == braket(src2, shots=10)[1].measuredQubits


# ----------------------------------------------------------------------------- (1) controls dropped
BRAKET_DROPS_ON_4_QUBITS = {(1, 3), (2, 0)}


def _without_last_gate(prog):
    c = Circuit(prog.circuit.instructions[:-1])
    return Oracle(c).state_vector()


def test_defect1_ctrl_dropped_for_some_positions():
    """Every (control, target) on 4 qubits, ctrl@ and negctrl@, four gates: qsim always matches the
    oracle; Braket drops the gate exactly at the positions in BRAKET_DROPS_ON_4_QUBITS."""
    dropped = set()
    for (c, t), state, name in itertools.product(itertools.permutations(range(4), 2), (1, 0),
                                                  ("x", "y", "h", "rx")):
        p = Prog(4).prep(3).gate(name, (t,), _params(name, 1), (c,), (state,))
        b, want = _check(p, expect_braket_ok=False)
        if np.max(np.abs(b - want)) > TOL:
            assert_close(b, _without_last_gate(p), TOL, f"braket did something else at {(c, t)}")
            dropped.add((c, t))
    assert dropped == BRAKET_DROPS_ON_4_QUBITS


def test_defect1_documented_example_and_multi_control():
    p = Prog(4).gate("x", (0,)).gate("x", (1,)).gate("x", (2,)).gate("x", (3,)).gate("y", (3,), (), (1,), (1,))
    b, want = _check(p, expect_braket_ok=False)
    assert abs(want[0b1110]) == pytest.approx(1)  # y flips q3: |1110> (with phase -i)
    assert abs(b[0b1111]) == pytest.approx(1)  # Braket leaves |1111>
    for controls, t in (((1, 3), 0), ((3, 0), 2), ((2, 0), 1)):
        for states in ((1, 1), (0, 1)):
            p = Prog(4).prep(4).gate("h", (t,), (), controls, states)
            b, want = _check(p, expect_braket_ok=False)
            if np.max(np.abs(b - want)) > TOL:
                assert_close(b, _without_last_gate(p), TOL, "not a drop")


def test_defect1_ten_and_eleven_qubits():
    src10 = "OPENQASM 3.0;\nqubit[10] q;\nx q;\nctrl @ y q[1], q[3];\n#pragma braket result probability q[3]\n"
    assert_close(qsim_values(src10)[0], [1, 0], 1e-14)
    assert_close(braket(src10)[0][0], [0, 1], 1e-14)  # dropped
    src11 = src10.replace("qubit[10]", "qubit[11]")
    assert_close(qsim_values(src11)[0], [1, 0], 1e-14)
    with pytest.raises(Exception, match="nopython|reshape|Typing"):
        braket(src11)


# ----------------------------------------------------------------------------- (2) pow on cnot/swap
@pytest.mark.parametrize("exps", [(0.5,), (2.0,), (-0.5,), (1 / 3,), (0.5, -1.0)])
@pytest.mark.parametrize("name", ["cnot", "swap"])
def test_defect2_pow_ignored_on_cnot_and_swap(name, exps):
    for controls in ((), (0,)):
        p = Prog(3).prep(2).gate(name, (1, 2), (), controls, (1,) * len(controls), exps)
        b, want = _check(p, expect_braket_ok=False)
        plain = Prog(3).prep(2).gate(name, (1, 2), (), controls, (1,) * len(controls))
        assert_close(b, plain.oracle_state(), TOL, "Braket applied the gate unpowered")
        assert np.max(np.abs(b - want)) > 1e-3


def test_defect2_documented_example():
    src = "OPENQASM 3.0;\nqubit[2] q;\nx q[0];\npow(0.5) @ cnot q[0], q[1];\n#pragma braket result state_vector\n"
    assert_close(qsim_values(src)[0], [0, 0, (1 + 1j) / 2, (1 - 1j) / 2], 1e-15)
    assert_close(braket(src)[0][0], [0, 0, 0, 1], 1e-15)


# ----------------------------------------------------------------------------- (3) pow on custom gates
CUSTOM = [("h", (0,), ()), ("t", (0,), ()), ("ry", (1,), (0.4,)), ("cphaseshift", (0, 1), (0.3,))]
CUSTOM_QASM = "gate g a, b { h a; t a; ry(0.4) b; cphaseshift(0.3) a, b; }"


def _body_matrix():
    u = np.eye(4, dtype=complex)
    for name, t, params in CUSTOM:
        u = full_operator(2, t, op_matrix(name, params)) @ u
    return u


@pytest.mark.parametrize("power", [2, 3, -2, 0.5, 1 / 3])
def test_defect3_pow_on_custom_gate(power):
    src = ("OPENQASM 3.0;\n" + CUSTOM_QASM + "\nqubit[2] q;\nh q[1];\n"
           f"pow({power!r}) @ g q[0], q[1];\n#pragma braket result state_vector\n")
    start = full_operator(2, [1], op_matrix("h")) @ np.eye(4)[:, 0]
    want = unitary_power(_body_matrix(), power) @ start
    assert_close(qsim_values(src)[0], want, TOL)
    b = braket(src)[0][0]
    per_gate = start
    for name, t, params in CUSTOM:
        per_gate = full_operator(2, t, unitary_power(op_matrix(name, params), power)) @ per_gate
    assert_close(b, per_gate, TOL, "Braket powers each gate of the body")
    assert np.max(np.abs(b - want)) > 1e-3


# ----------------------------------------------------------------------------- (4) gphase in custom gates
G_PHASE = "gate g a { gphase(0.5); x a; }"


@pytest.mark.parametrize("modifier, controls", [("ctrl @", 1), ("negctrl @", 1), ("inv @", 0),
                                                ("pow(0.5) @", 0), ("ctrl @ inv @", 1)])
def test_defect4_gphase_inside_custom_gate(modifier, controls):
    qubits = "q[0], q[1]" if controls else "q[1]"
    src = (f"OPENQASM 3.0;\n{G_PHASE}\nqubit[2] q;\nh q[0];\nry(0.3) q[1];\n{modifier} g {qubits};\n"
           "#pragma braket result state_vector\n")
    g = np.exp(0.5j) * np.array([[0, 1], [1, 0]])
    if "inv" in modifier:
        g = g.conj().T
    if "pow" in modifier:
        g = unitary_power(g, 0.5)
    state = 1 if modifier.startswith("ctrl") else 0
    u = full_operator(2, [1], g, [0] if controls else [], [state] if controls else [])
    start = np.kron(op_matrix("h")[:, 0], op_matrix("ry", (0.3,))[:, 0])
    want = u @ start
    assert_close(qsim_values(src)[0], want, TOL)
    assert np.max(np.abs(braket(src)[0][0] - want)) > 1e-3


# ----------------------------------------------------------------------------- (5) reset
def test_defect5_reset_of_entangled_qubit():
    src = ("OPENQASM 3.0;\nqubit[2] q;\nh q[0];\ncnot q[0], q[1];\nreset q[0];\nh q[1];\n"
           "#pragma braket result probability\n")
    c = Circuit().h(0).cnot(0, 1).reset(0).h(1)
    want = Oracle(c).probabilities()
    assert_close(want, [0.5, 0.5, 0, 0], 1e-14)
    assert_close(qsim_values(src)[0], want, 1e-14)
    assert_close(braket(src)[0][0], [1, 0, 0, 0], 1e-14)


def test_reset_of_unentangled_qubit_agrees():
    src = "OPENQASM 3.0;\nqubit[2] q;\nx q[0];\nh q[1];\nreset q[0];\n#pragma braket result probability\n"
    assert_close(qsim_values(src)[0], braket(src)[0][0], 1e-14)


# ----------------------------------------------------------------------------- (6) probability order
@pytest.mark.parametrize("targets", list(itertools.permutations(range(3))) + [(3, 1, 0, 2), (1, 2, 3, 0)])
def test_defect6_probability_target_order(targets):
    n = 4
    p = Prog(n).prep(8)
    src = p.result("probability " + ", ".join(f"q[{t}]" for t in targets)).source
    probs = np.abs(p.oracle_state()) ** 2
    want = marginal(probs, n, targets)
    assert_close(qsim_values(src)[0], want, TOL)
    b = braket(src)[0][0]
    if _is_involution(targets):  # sorted, or one transposition: Braket's mistake cancels out
        assert_close(b, want, TOL)
    else:
        assert np.max(np.abs(b - want)) > 1e-3
        assert_close(b, marginal(probs, n, _inverse_order(targets)), TOL, "Braket permutes the axes inversely")


def _rank_perm(targets):
    """targets as a permutation of 0..k-1 (position -> rank)."""
    order = sorted(targets)
    return [order.index(t) for t in targets]


def _is_involution(targets):
    p = _rank_perm(targets)
    return all(p[p[i]] == i for i in range(len(p)))


def _inverse_order(targets):
    p = _rank_perm(targets)
    inv = [0] * len(p)
    for i, r in enumerate(p):
        inv[r] = i
    order = sorted(targets)
    return [order[r] for r in inv]


# ----------------------------------------------------------------------------- (7) errors
@pytest.mark.parametrize("body, line, match", [
    ("cnot q[0];", 3, "acts on 2 qubit"),
    ("cnot q[1], q[1];", 3, "used twice"),
    ("h q[0]\ncnot q[0], q[1];", 4, "syntax error"),
    ("rx q[0];", 3, "parameter"),
    ("undefined_gate q[0];", 3, "undefined_gate"),
    ("h q[5];", 3, "q"),
])
def test_defect7_errors_carry_line_and_column(body, line, match):
    src = f"OPENQASM 3.0;\nqubit[2] q;\n{body}\n#pragma braket result state_vector\n"
    with pytest.raises(ProgramError, match=match) as info:
        qsim_values(src)
    assert info.value.line == line and info.value.column is not None
    assert f"line {line}" in str(info.value)


def test_defect7_braket_accepts_bad_arity_and_repeated_qubits_and_has_empty_parse_errors():
    for body in ("cnot q[0];", "cnot q[1], q[1];"):
        src = f"OPENQASM 3.0;\nqubit[2] q;\n{body}\n#pragma braket result state_vector\n"
        values, _ = braket(src)  # no error
        assert len(values[0]) in (2, 4)
    src = "OPENQASM 3.0;\nqubit[2] q;\nh q[0]\ncnot q[0], q[1];\n#pragma braket result state_vector\n"
    with pytest.raises(Exception) as info:
        braket(src)
    assert str(info.value) == ""  # no message, no line
