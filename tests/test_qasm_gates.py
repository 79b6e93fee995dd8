"""OpenQASM gates -> GateOps: names, targets, controls, exponents, and the unitary they mean.

The oracle here is deliberately independent of qsim.qasm.compose: gate matrices are written out
from their textbook formulas, and an operation is embedded into the full space by a plain loop over
basis states (control bits checked one by one)."""

import cmath
import math

import numpy as np
import pytest

from qsim.circuit import gates
from qsim.circuit.operations import GateOp
from qsim.errors import ProgramError
from qsim.qasm import parse

# ----------------------------------------------------------------------------- reference matrices
I2 = np.eye(2, dtype=complex)
X = np.array([[0, 1], [1, 0]], dtype=complex)
Y = np.array([[0, -1j], [1j, 0]], dtype=complex)
Z = np.diag([1, -1]).astype(complex)
H = np.array([[1, 1], [1, -1]], dtype=complex) / math.sqrt(2)
S = np.diag([1, 1j])
T = np.diag([1, cmath.exp(1j * math.pi / 4)])
SX = 0.5 * np.array([[1 + 1j, 1 - 1j], [1 - 1j, 1 + 1j]])
SWAP = np.eye(4, dtype=complex)[[0, 2, 1, 3]]


def RX(t):
    return np.array([[math.cos(t / 2), -1j * math.sin(t / 2)], [-1j * math.sin(t / 2), math.cos(t / 2)]])


def RY(t):
    return np.array([[math.cos(t / 2), -math.sin(t / 2)], [math.sin(t / 2), math.cos(t / 2)]], dtype=complex)


def RZ(t):
    return np.diag([cmath.exp(-0.5j * t), cmath.exp(0.5j * t)])


def P(t):
    return np.diag([1, cmath.exp(1j * t)])


def U(t, p, l):  # OpenQASM 3 U
    c, s = math.cos(t / 2), math.sin(t / 2)
    return np.array([[c, -cmath.exp(1j * l) * s], [cmath.exp(1j * p) * s, cmath.exp(1j * (p + l)) * c]])


def ctrl(m, n=1, state=None):
    """Controls first (most significant); ``state`` bits of the controls that fire (default all 1)."""
    k = m.shape[0]
    state = (1,) * n if state is None else state
    block = int("".join(map(str, state)), 2)
    out = np.eye(k << n, dtype=complex)
    out[block * k:(block + 1) * k, block * k:(block + 1) * k] = m
    return out


def kron(*ms):
    out = np.eye(1, dtype=complex)
    for m in ms:
        out = np.kron(out, m)
    return out


def embed(op: GateOp, n: int) -> np.ndarray:
    """Full 2^n matrix of ``op`` (qubit 0 = most significant bit), by a loop over basis states."""
    m = op.matrix()
    full = np.zeros((1 << n, 1 << n), dtype=complex)
    bit = lambda idx, q: (idx >> (n - 1 - q)) & 1  # noqa: E731
    for col in range(1 << n):
        if any(bit(col, c) != s for c, s in zip(op.controls, op.control_states)):
            full[col, col] = 1
            continue
        sub_in = 0
        for q in op.targets:
            sub_in = (sub_in << 1) | bit(col, q)
        for sub_out in range(m.shape[0]):
            row = col
            for j, q in enumerate(op.targets):
                b = (sub_out >> (len(op.targets) - 1 - j)) & 1
                row = (row & ~(1 << (n - 1 - q))) | (b << (n - 1 - q))
            full[row, col] += m[sub_out, sub_in]
    return full


def unitary(circuit, n: int) -> np.ndarray:
    out = np.eye(1 << n, dtype=complex)
    for op in circuit.instructions:
        assert isinstance(op, GateOp), op
        out = embed(op, n) @ out
    return out


def program(body: str, n: int = 3, std: bool = False) -> str:
    return "OPENQASM 3.0;\n" + ('include "stdgates.inc";\n' if std else "") + f"qubit[{n}] q;\n" + body


def assert_unitary(body, expected, n=3, std=False):
    got = unitary(parse(program(body, n, std)), n)
    np.testing.assert_allclose(got, expected, atol=1e-9)


def sig(op):
    return (op.name, op.targets, op.controls, op.control_states, op.exponents)


# ----------------------------------------------------------------------------- built-ins
@pytest.mark.parametrize("name", sorted(gates.GATES))
def test_every_builtin_gate_parses_with_its_arity(name):
    spec = gates.GATES[name]
    params = ", ".join(f"0.{i + 1}" for i in range(spec.params))
    qubits = ", ".join(f"q[{i}]" for i in range(spec.qubits))
    call = name + (f"({params})" if spec.params else "") + (" " + qubits if qubits else "") + ";"
    c = parse(program(call))
    (op,) = c.instructions
    assert op.name == name
    assert op.targets == tuple(range(spec.qubits))
    assert op.params == pytest.approx(tuple(0.1 * (i + 1) for i in range(spec.params)))
    np.testing.assert_allclose(op.matrix(), spec.matrix(*op.params))


@pytest.mark.parametrize("alias, name", sorted(gates.ALIASES.items()))
def test_aliases_map_to_builtin_names(alias, name):
    spec = gates.GATES[name]
    params = "(" + ", ".join(["0.3"] * spec.params) + ")" if spec.params else ""
    qubits = ", ".join(f"q[{i}]" for i in range(spec.qubits))
    (op,) = parse(program(f"{alias}{params} {qubits};")).instructions
    assert op.name == name


def test_ms_optional_third_parameter():
    c = parse(program("ms(0.1, 0.2) q[0], q[1]; ms(0.1, 0.2, 0.3) q[0], q[1];"))
    assert [op.params for op in c.instructions] == [(0.1, 0.2), (0.1, 0.2, 0.3)]


@pytest.mark.parametrize("body, expected", [
    ("h q[0];", kron(H, I2, I2)),
    ("cnot q[2], q[0];", None),
    ("rx(0.3) q[1];", kron(I2, RX(0.3), I2)),
    ("U(0.1, 0.2, 0.3) q[2];", kron(I2, I2, U(0.1, 0.2, 0.3))),
    ("gphase(0.7);", cmath.exp(0.7j) * np.eye(8)),
])
def test_builtin_unitaries(body, expected):
    if expected is None:  # cnot q[2], q[0]: control on the least significant qubit
        expected = np.zeros((8, 8), dtype=complex)
        for i in range(8):
            j = i ^ 4 if i & 1 else i
            expected[j, i] = 1
    assert_unitary(body, expected)


def test_register_broadcast_one_and_two_registers():
    c = parse("qubit[2] a; qubit[2] b; h a; cnot a, b; cnot a[0], b;")
    assert [sig(op)[:2] for op in c.instructions] == [
        ("h", (0,)), ("h", (1,)), ("cnot", (0, 2)), ("cnot", (1, 3)), ("cnot", (0, 2)), ("cnot", (0, 3))]


def test_single_qubit_and_physical_qubits():
    c = parse("qubit a; qubit[2] b; x a; x b[1]; x $7; cnot $1, $2;")
    assert [op.targets for op in c.instructions] == [(0,), (2,), (7,), (1, 2)]


def test_gphase_has_no_targets():
    (op,) = parse("gphase(pi/2);").instructions
    assert op.name == "gphase" and op.targets == () and op.params == (math.pi / 2,)


# ----------------------------------------------------------------------------- modifiers on built-ins
@pytest.mark.parametrize("body, want", [
    ("ctrl @ x q[0], q[1];", ("x", (1,), (0,), (1,), ())),
    ("negctrl @ x q[0], q[1];", ("x", (1,), (0,), (0,), ())),
    ("ctrl(2) @ x q[2], q[0], q[1];", ("x", (1,), (2, 0), (1, 1), ())),
    ("ctrl @ negctrl @ rx(0.2) q[1], q[2], q[0];", ("rx", (0,), (1, 2), (1, 0), ())),
    ("inv @ s q[0];", ("s", (0,), (), (), (-1.0,))),
    ("pow(0.5) @ x q[0];", ("x", (0,), (), (), (0.5,))),
    ("inv @ pow(2) @ inv @ t q[0];", ("t", (0,), (), (), (-1.0, 2.0, -1.0))),
    ("pow(1/3) @ ctrl @ inv @ cnot q[0], q[1], q[2];", ("cnot", (1, 2), (0,), (1,), (1 / 3, -1.0))),
    ("ctrl @ gphase(0.4) q[1];", ("gphase", (), (1,), (1,), ())),
    ("negctrl(2) @ inv @ gphase(0.4) q[1], q[0];", ("gphase", (), (1, 0), (0, 0), (-1.0,))),
])
def test_modifier_chains_on_builtins(body, want):
    (op,) = parse(program(body)).instructions
    assert sig(op) == want


@pytest.mark.parametrize("body, expected", [
    ("ctrl @ x q[0], q[1];", kron(ctrl(X), I2)),
    ("negctrl @ x q[0], q[1];", kron(ctrl(X, 1, (0,)), I2)),
    ("ctrl @ pow(0.5) @ x q[0], q[2];", None),
    ("pow(0.5) @ cnot q[0], q[1];", kron(ctrl(SX), I2)),
    ("inv @ pow(0.5) @ x q[1];", kron(I2, SX.conj().T, I2)),
    ("ctrl @ gphase(0.3) q[0];", kron(P(0.3), I2, I2)),
    ("negctrl @ gphase(0.3) q[0];", kron(np.diag([cmath.exp(0.3j), 1]), I2, I2)),
    ("ctrl(2) @ inv @ s q[0], q[1], q[2];", ctrl(S.conj().T, 2)),
])
def test_modifier_unitaries(body, expected):
    if expected is None:  # controlled sqrt(X) from q0 to q2, with q1 in between
        expected = np.eye(8, dtype=complex)
        for hi in (4,):
            for mid in (0, 2):
                base = hi | mid
                expected[np.ix_([base, base | 1], [base, base | 1])] = SX
    assert_unitary(body, expected)


# ----------------------------------------------------------------------------- custom gates
CUSTOM = """
gate g(th) a, b { rx(th) a; cnot a, b; gphase(th / 2); }
"""


def g_matrix(th):
    return cmath.exp(0.5j * th) * ctrl(X) @ kron(RX(th), I2)


@pytest.mark.parametrize("call, expected", [
    ("g(0.4) q[0], q[1];", kron(g_matrix(0.4), I2)),
    ("inv @ g(0.4) q[0], q[1];", kron(g_matrix(0.4).conj().T, I2)),
    ("pow(2) @ g(0.4) q[0], q[1];", kron(np.linalg.matrix_power(g_matrix(0.4), 2), I2)),
    ("pow(-2) @ g(0.4) q[0], q[1];", kron(np.linalg.matrix_power(g_matrix(0.4).conj().T, 2), I2)),
    ("pow(0) @ g(0.4) q[0], q[1];", np.eye(8)),
    ("ctrl @ g(0.4) q[2], q[0], q[1];", None),
    ("negctrl @ inv @ g(0.4) q[0], q[1], q[2];", ctrl(g_matrix(0.4).conj().T, 1, (0,))),
    ("ctrl @ pow(2) @ inv @ g(0.4) q[0], q[1], q[2];",
     ctrl(np.linalg.matrix_power(g_matrix(0.4).conj().T, 2))),
])
def test_custom_gate_modifiers_unitary(call, expected):
    if expected is None:  # control q2, targets q0 q1: permute a controls-first matrix
        m = ctrl(g_matrix(0.4))  # qubit order (c, a, b) = (q2, q0, q1)
        perm = np.zeros((8, 8))
        for i in range(8):  # i over (q0, q1, q2) -> index over (q2, q0, q1)
            q0, q1, q2 = (i >> 2) & 1, (i >> 1) & 1, i & 1
            perm[(q2 << 2) | (q0 << 1) | q1, i] = 1
        expected = perm.T @ m @ perm
    assert_unitary(CUSTOM + call, expected)


def test_ctrl_on_custom_gate_turns_gphase_into_controlled_phase():
    c = parse(program(CUSTOM + "ctrl @ g(0.4) q[2], q[0], q[1];"))
    assert [sig(op) for op in c.instructions] == [
        ("rx", (0,), (2,), (1,), ()),
        ("cnot", (0, 1), (2,), (1,), ()),
        ("gphase", (), (2,), (1,), ()),
    ]
    assert c.instructions[2].params == (0.2,)


def test_inv_on_custom_gate_reverses_and_inverts_body():
    c = parse(program(CUSTOM + "inv @ g(0.4) q[0], q[1];"))
    assert [sig(op) for op in c.instructions] == [
        ("gphase", (), (), (), (-1.0,)), ("cnot", (0, 1), (), (), (-1.0,)), ("rx", (0,), (), (), (-1.0,))]


def test_integer_pow_repeats_body():
    c = parse(program(CUSTOM + "pow(3) @ g(0.4) q[0], q[1];"))
    assert [op.name for op in c.instructions] == ["rx", "cnot", "gphase"] * 3


@pytest.mark.parametrize("k", [0.5, -0.25, 1.5])
def test_fractional_pow_of_custom_gate_is_one_powered_unitary(k):
    c = parse(program(CUSTOM + f"pow({k}) @ g(0.4) q[1], q[0];"))
    (op,) = c.instructions
    assert op.name == "unitary" and op.targets == (1, 0) and op.exponents == (k,)
    np.testing.assert_allclose(op.unitary, g_matrix(0.4), atol=1e-12)
    # Not the product of the body gates' powers (Braket's mistake):
    wrong = cmath.exp(0.5j * 0.4 * k) * gates.matrix_power(ctrl(X), k) @ kron(gates.matrix_power(RX(0.4), k), I2)
    assert not np.allclose(op.matrix(), wrong)
    np.testing.assert_allclose(op.matrix(), gates.matrix_power(g_matrix(0.4), k), atol=1e-9)


def test_ctrl_of_fractional_pow_of_custom_gate():
    c = parse(program(CUSTOM + "ctrl @ pow(0.5) @ g(0.4) q[2], q[0], q[1];"))
    (op,) = c.instructions
    assert sig(op) == ("unitary", (0, 1), (2,), (1,), (0.5,))
    root = gates.matrix_power(g_matrix(0.4), 0.5)
    np.testing.assert_allclose(root @ root, g_matrix(0.4), atol=1e-9)


def test_nested_custom_gates_and_register_broadcast():
    src = """
    gate inner a { h a; }
    gate outer(t) a, b { inner a; ctrl @ rz(t) a, b; }
    qubit[2] x; qubit[2] y;
    outer(0.5) x, y;
    """
    c = parse(src)
    assert [sig(op)[:3] for op in c.instructions] == [
        ("h", (0,), ()), ("rz", (2,), (0,)), ("h", (1,), ()), ("rz", (3,), (1,))]


def test_custom_gate_params_are_expressions():
    src = "const float f = 2; gate g(a, b) q { rx(a * b + f) q; } qubit q; g(0.25, pi) q;"
    (op,) = parse(src).instructions
    assert op.params == pytest.approx((0.25 * math.pi + 2,))


# ----------------------------------------------------------------------------- stdgates.inc
@pytest.mark.parametrize("call, expected", [
    ("p(0.3) q[0];", P(0.3)),
    ("phase(0.3) q[0];", P(0.3)),
    ("sx q[0];", SX),
    ("sxdg q[0];", SX.conj().T),
    ("sdg q[0];", S.conj().T),
    ("tdg q[0];", T.conj().T),
    ("id q[0];", I2),
    ("u1(0.3) q[0];", U(0, 0, 0.3)),
    ("u2(0.2, 0.3) q[0];", U(math.pi / 2, 0.2, 0.3)),
    ("u3(0.1, 0.2, 0.3) q[0];", U(0.1, 0.2, 0.3)),
    ("x q[0];", U(math.pi, 0, math.pi)),
    ("y q[0];", U(math.pi, math.pi / 2, math.pi / 2)),
    ("h q[0];", U(math.pi / 2, 0, math.pi)),
    ("s q[0];", gates.matrix_power(Z, 0.5)),
    ("t q[0];", gates.matrix_power(S, 0.5)),
    ("rz(0.3) q[0];", cmath.exp(-0.15j) * U(0, 0, 0.3)),
])
def test_stdgates_one_qubit(call, expected):
    assert_unitary(call, expected, n=1, std=True)


@pytest.mark.parametrize("call, expected", [
    ("cx q[0], q[1];", ctrl(X)),
    ("CX q[0], q[1];", ctrl(X)),
    ("cy q[0], q[1];", ctrl(Y)),
    ("cz q[0], q[1];", ctrl(Z)),
    ("cp(0.3) q[0], q[1];", ctrl(P(0.3))),
    ("cphase(0.3) q[0], q[1];", ctrl(P(0.3))),
    ("crx(0.3) q[0], q[1];", ctrl(RX(0.3))),
    ("cry(0.3) q[0], q[1];", ctrl(RY(0.3))),
    ("crz(0.3) q[0], q[1];", ctrl(RZ(0.3))),
    ("ch q[0], q[1];", ctrl(H)),
    ("cu(0.1, 0.2, 0.3, 0.4) q[0], q[1];", ctrl(cmath.exp(0.4j) * U(0.1, 0.2, 0.3))),
    ("swap q[0], q[1];", SWAP),
    ("ctrl @ u3(0.1, 0.2, 0.3) q[0], q[1];", ctrl(U(0.1, 0.2, 0.3))),
    ("ctrl @ rz(0.3) q[0], q[1];", ctrl(RZ(0.3))),
])
def test_stdgates_two_qubit(call, expected):
    assert_unitary(call, expected, n=2, std=True)


@pytest.mark.parametrize("call, expected", [
    ("ccx q[0], q[1], q[2];", ctrl(X, 2)),
    ("cswap q[0], q[1], q[2];", ctrl(SWAP)),
    ("ctrl @ cu(0.1, 0.2, 0.3, 0.4) q[0], q[1], q[2];", ctrl(ctrl(cmath.exp(0.4j) * U(0.1, 0.2, 0.3)))),
])
def test_stdgates_three_qubit(call, expected):
    assert_unitary(call, expected, n=3, std=True)


def test_stdgate_needs_include():
    with pytest.raises(ProgramError, match=r"unknown gate 'crx'.*stdgates.inc"):
        parse(program("crx(0.1) q[0], q[1];"))


def test_include_twice_is_an_error():
    with pytest.raises(ProgramError, match="already defined"):
        parse('include "stdgates.inc"; include "stdgates.inc";')


def test_user_gate_may_shadow_a_builtin_name():
    (op,) = parse("gate h a { x a; } qubit q; h q;").instructions
    assert op.name == "x"


def test_fractional_pow_of_body_with_inner_controls_and_negctrl():
    src = program("gate k a, b, c { negctrl @ h a, c; cnot b, a; ctrl @ gphase(0.3) c; }\n"
                  "pow(0.5) @ k q[0], q[1], q[2];")
    (op,) = parse(src).instructions
    body = parse(program("negctrl @ h q[0], q[2]; cnot q[1], q[0]; ctrl @ gphase(0.3) q[2];"))
    full = unitary(body, 3)
    np.testing.assert_allclose(op.unitary, full, atol=1e-12)
    np.testing.assert_allclose(embed(op, 3) @ embed(op, 3), full, atol=1e-9)


def test_sdk_style_program():
    src = """OPENQASM 3.0;
input float theta;
bit[2] b;
qubit[2] q;
h q[0];
cnot q[0], q[1];
rx(theta) q[1];
b[0] = measure q[0];
b[1] = measure q[1];"""
    c = parse(src, {"theta": 0.7})
    assert [type(op).__name__ for op in c.instructions] == ["GateOp"] * 3 + ["Measure"] * 2
    assert c.instructions[2].params == (0.7,)
