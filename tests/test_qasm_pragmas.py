"""``#pragma braket ...``: result types, unitary, verbatim, and what is refused."""

import math

import numpy as np
import pytest

from qsim.circuit import observables as obs
from qsim.circuit import result_types as rt
from qsim.errors import ProgramError
from qsim.qasm import parse

HEAD = "OPENQASM 3.0;\nqubit[3] q;\n"


def results(*lines):
    return parse(HEAD + "\n".join(f"#pragma braket result {line}" for line in lines)).result_types


@pytest.mark.parametrize("line, want", [
    ("state_vector", rt.StateVector()),
    ("probability", rt.Probability(None)),
    ("probability all", rt.Probability(None)),
    ("probability q[0], q[2]", rt.Probability((0, 2))),
    ("probability q", rt.Probability((0, 1, 2))),
    ("probability q[1:2]", rt.Probability((1, 2))),
    ("density_matrix", rt.DensityMatrix(None)),
    ("density_matrix q[1]", rt.DensityMatrix((1,))),
    ('amplitude "000", "101"', rt.Amplitude(("000", "101"))),
    ("expectation z(q[0])", rt.Expectation(obs.Z(), (0,))),
    ("variance x(q[1])", rt.Variance(obs.X(), (1,))),
    ("sample y(q[2])", rt.Sample(obs.Y(), (2,))),
    ("expectation h(q[0])", rt.Expectation(obs.H(), (0,))),
    ("expectation i(q[0])", rt.Expectation(obs.I(), (0,))),
    ("expectation x all", rt.Expectation(obs.X(), None)),
    ("expectation z", rt.Expectation(obs.Z(), None)),
    ("expectation z(q[0]) @ x(q[1])", rt.Expectation(obs.Z() @ obs.X(), (0, 1))),
    ("sample z(q[2]) @ y(q[0]) @ h(q[1])", rt.Sample(obs.Z() @ obs.Y() @ obs.H(), (2, 0, 1))),
    ("expectation z($0)", rt.Expectation(obs.Z(), (0,))),
])
def test_result_types(line, want):
    assert results(line) == [want]


def test_hermitian_observables():
    got = results("expectation hermitian([[0, -1im], [1im, 0]]) q[1]",
                  "variance hermitian([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, -1]]) q[0], q[2]",
                  "expectation x(q[0]) @ hermitian([[1+0im, 0.5-0.5im], [0.5+0.5im, -1.0]]) q[2]",
                  "expectation hermitian([[2, 0], [0, 3]]) q[0] @ z(q[1])")
    np.testing.assert_allclose(got[0].observable.matrix(), [[0, -1j], [1j, 0]])
    assert got[0].targets == (1,)
    assert got[1].targets == (0, 2) and got[1].observable.qubit_count == 2
    np.testing.assert_allclose(got[2].observable.matrix(),
                               np.kron([[0, 1], [1, 0]], [[1, 0.5 - 0.5j], [0.5 + 0.5j, -1]]))
    assert got[2].targets == (0, 2)
    assert got[3].targets == (0, 1)


def test_unitary_pragma():
    s = 1 / math.sqrt(2)
    c = parse(HEAD + f"#pragma braket unitary([[{s}, {s}], [{s}, -{s}]]) q[1]\n"
                     "#pragma braket unitary([[0, 1im, 0, 0], [1im, 0, 0, 0], [0, 0, 0, -1im], [0, 0, -1im, 0]]) q[2], q[0]")
    a, b = c.instructions
    assert a.name == "unitary" and a.targets == (1,)
    np.testing.assert_allclose(a.matrix(), [[s, s], [s, -s]])
    assert b.targets == (2, 0)
    np.testing.assert_allclose(b.matrix()[1, 0], 1j)


def test_verbatim_box_runs_its_body():
    c = parse("OPENQASM 3.0;\n#pragma braket verbatim\nbox { x $0; cnot $0, $1; }\nh $2;")
    assert [(op.name, op.targets) for op in c.instructions] == [("x", (0,)), ("cnot", (0, 1)), ("h", (2,))]


def test_verbatim_without_box():
    with pytest.raises(ProgramError, match="must be followed by a 'box'") as e:
        parse("OPENQASM 3.0;\nqubit q;\n#pragma braket verbatim\nx q;")
    assert e.value.line == 3


@pytest.mark.parametrize("line, match, column", [
    ("braket noise bit_flip(0.1) q[0]", "noise pragma 'bit_flip' is not supported: qsim is a state-vector", 16),
    ("braket noise kraus([[1, 0], [0, 1]]) q[0]", "without noise", 16),
    ("braket result adjoint_gradient expectation(z(q[0])) 3", "expected a parameter name or 'all'", 61),
    ("foo bar", "unknown pragma 'foo bar'", 9),
    ("braket frobnicate", "unknown pragma 'braket frobnicate'", 16),
    ("braket result entropy q[0]", "unknown result type 'entropy'", 23),
    ("braket result expectation w(q[0])", "unknown observable 'w'", 35),
    ("braket result expectation z(r[0])", "'r' is not declared", 37),
    ("braket result expectation z(q[7])", "index 7 is out of range for 'q' of size 3", 37),
    ("braket result expectation z(q[0]) @ x", "every factor of a tensor product needs its qubits", 45),
    ("braket result expectation z(q[0], q[1])", r"acts on 1 qubit\(s\) but 2 were given", 35),
    ("braket result expectation hermitian([[1, 1im], [1im, 1]]) q[0]", "not Hermitian", 35),
    ("braket result amplitude 01", "quoted bitstrings", 33),
    ("braket result amplitude \"0a\"", "not a bitstring", 23),
    ("braket unitary([[1, 0], [0, 2]]) q[0]", "not unitary", 16),
    ("braket unitary([[1, 0], [0, 1]]) q[0], q[1]", "must be 4x4, got 2x2", 16),
    ("braket unitary([[1, 0], [0]]) q[0]", "rows have different lengths", 16),
    ("braket unitary([[1, 0], [0, 1]) q[0]", "expected ']'", 39),
    ("braket result probability q[0] junk", "unexpected text at the end", 40),
])
def test_pragma_errors(line, match, column):
    src = HEAD + f"#pragma {line}\n"
    with pytest.raises(ProgramError, match=match) as e:
        parse(src)
    assert e.value.line == 3
    assert e.value.column == column, str(e.value)
