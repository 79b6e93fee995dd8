"""Adjoint gradients (``adjoint_gradient`` result type) against the dense oracle.

Random circuits over every parametrised gate with ctrl/negctrl/inv/pow modifiers and affine angle
expressions of several parameters, sums of weighted Pauli/Hermitian products; the reference is a
high-order finite difference of the oracle's expectation (``tests/adjoint_cases.py``).  The same
bodies run on 2 and 4 ranks in ``tests/distributed/test_adjoint_distributed.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

import qsim
from adjoint_cases import NAMES, oracle_expectation, oracle_gradient, random_circuit, random_terms
from qsim import Circuit, FreeParameter
from qsim.circuit import observables as obs
from qsim.errors import ValidationError


def _values(rng):
    return {p: float(rng.uniform(-np.pi, np.pi)) for p in NAMES}


@pytest.mark.parametrize("seed", range(10))
def test_random_circuits_match_the_oracle(seed):
    rng = np.random.default_rng(seed)
    n = 4
    c = random_circuit(rng, n, 14)
    terms = random_terms(rng, n)
    values = _values(rng)
    c.adjoint_gradient(terms)
    value = qsim.device().run(c, inputs=values).result().values[0]
    assert abs(value["expectation"] - oracle_expectation(c, values, terms)) < 1e-10
    ref = oracle_gradient(c, values, terms, list(value["gradient"]))
    used = set().union(*(op.free_parameters() for op in c.instructions))
    assert set(value["gradient"]) == used
    for p, g in value["gradient"].items():
        assert abs(g - ref[p]) < 1e-7, (p, g, ref[p])


def test_complex64():
    rng = np.random.default_rng(42)
    c = random_circuit(rng, 4, 12)
    terms = random_terms(rng, 4)
    values = _values(rng)
    c.adjoint_gradient(terms)
    value = qsim.device(precision="single").run(c, inputs=values).result().values[0]
    ref = oracle_gradient(c, values, terms, list(value["gradient"]))
    for p, g in value["gradient"].items():
        assert abs(g - ref[p]) < 2e-4 * max(1.0, abs(ref[p])), (p, g, ref[p])


def test_shape_order_and_unused_parameter():
    t, p = FreeParameter("theta"), FreeParameter("phi")
    c = Circuit().rx(0, t).ry(1, p)
    c.adjoint_gradient(obs.Z() @ obs.Z(), [0, 1], parameters=["phi", "theta", "unused"])
    res = qsim.device().run(c, inputs={"theta": 0.3, "phi": 0.5, "unused": 1.0}).result()
    value = res.values[0]
    assert list(value) == ["expectation", "gradient"]
    assert list(value["gradient"]) == ["phi", "theta", "unused"]
    # <ZZ> = cos(theta) cos(phi) (hand-derived)
    assert abs(value["expectation"] - np.cos(0.3) * np.cos(0.5)) < 1e-12
    assert abs(value["gradient"]["theta"] + np.sin(0.3) * np.cos(0.5)) < 1e-12
    assert abs(value["gradient"]["phi"] + np.cos(0.3) * np.sin(0.5)) < 1e-12
    assert value["gradient"]["unused"] == 0.0
    assert res.to_dict()["resultTypes"][0]["type"]["type"] == "adjoint_gradient"


def test_a_parameter_used_in_many_gates_sums_its_contributions():
    t = FreeParameter("t")
    c = Circuit().rx(0, t).rx(0, 2 * t).rx(0, t - 0.5)
    c.adjoint_gradient(obs.Z(), [0])
    g = qsim.device().run(c, inputs={"t": 0.4}).result().values[0]["gradient"]["t"]
    assert abs(g + 4 * np.sin(4 * 0.4 - 0.5)) < 1e-12  # <Z> = cos(4t - 0.5)


def test_errors():
    t = FreeParameter("t")
    dev = qsim.device()
    c = Circuit().rx(0, t)
    c.adjoint_gradient(obs.Z(), [0], parameters=["t", "nope"])
    with pytest.raises(ValidationError, match=r"unknown parameter\(s\) \['nope'\]"):
        dev.run(c, inputs={"t": 0.1})
    c = Circuit().rx(0, t).adjoint_gradient(obs.Z(), [0])
    with pytest.raises(ValidationError, match="only available with shots=0"):
        dev.run(c, shots=10, inputs={"t": 0.1})
    c = Circuit().rx(0, t).adjoint_gradient(obs.Z(), [0]).adjoint_gradient(obs.X(), [0])
    with pytest.raises(ValidationError, match="at most one adjoint_gradient"):
        dev.run(c, inputs={"t": 0.1})
    c = Circuit().rx(0, t).measure(0).rx(0, t).adjoint_gradient(obs.Z(), [0])
    with pytest.raises(ValidationError, match="mid-circuit measurement"):
        dev.run(c, inputs={"t": 0.1})
    with pytest.raises(ValidationError, match="give the observable's target"):
        Circuit().rx(0, t).adjoint_gradient(obs.Z())


def test_other_result_types_alongside_and_terminal_measurement():
    t = FreeParameter("t")
    c = Circuit().h(0).rx(0, t).ry(1, t).probability().adjoint_gradient(obs.X(), [0]).expectation(obs.Z(), 1)
    c.measure([0, 1])
    res = qsim.device().run(c, inputs={"t": 0.7}).result()
    probs, ag, z = res.values
    assert abs(sum(probs) - 1) < 1e-12
    assert abs(ag["gradient"]["t"]) < 1e-12  # rx commutes with X: <X> = 1 whatever t
    assert abs(ag["expectation"] - 1) < 1e-12
    assert abs(z - np.cos(0.7)) < 1e-12


QASM = """OPENQASM 3.0;
input float theta;
input float phi;
input angle unused;
qubit[3] q;
gate rot(a, b) x { ry(a) x; rz(2 * b) x; }
gate ent(c) x, y { ctrl @ rot(c, c / 2) x, y; xx(c) x, y; }
h q;
rot(theta, phi) q[0];
inv @ ent(theta - phi) q[0], q[1];
negctrl @ pow(0.5) @ rx(phi) q[2], q[1];
pow(2) @ gpi2(theta) q[2];
U(theta, phi, 0.3) q[0];
b[0] = measure q[0];
#pragma braket result adjoint_gradient expectation(-6 * y(q[0]) @ i(q[1]) + 0.75 * y(q[2]) @ z(q[1]) - hermitian([[1+0im, 0.5im], [-0.5im, -1+0im]]) q[1]) theta, phi, unused
"""


def test_openqasm_with_custom_gates_and_modifiers_matches_the_oracle():
    from qsim import qasm

    src = QASM.replace("qubit[3] q;", "qubit[3] q;\nbit[1] b;")
    values = {"theta": 0.41, "phi": -1.3, "unused": 0.2}
    value = qsim.device().run(src, inputs=values).result().values[0]
    symbolic = qasm.parse(src, {}, symbolic_inputs=True)
    r = symbolic.result_types[0]
    terms = [(c, o, list(t)) for c, o, t in r.terms]
    ref = oracle_gradient(symbolic, {"theta": 0.41, "phi": -1.3, "unused": 0.2}, terms, ["theta", "phi"])
    assert list(value["gradient"]) == ["theta", "phi", "unused"]
    for p in ("theta", "phi"):
        assert abs(value["gradient"][p] - ref[p]) < 1e-7, p
    assert value["gradient"]["unused"] == 0.0
    assert abs(value["expectation"] - oracle_expectation(symbolic, values, terms)) < 1e-10


def test_openqasm_all_and_errors():
    from qsim.errors import ProgramError

    src = "OPENQASM 3.0;\ninput float t;\nqubit[1] q;\nrx(t) q[0];\n#pragma braket result adjoint_gradient expectation(z(q[0])) all"
    g = qsim.device().run(src, inputs={"t": 0.5}).result().values[0]["gradient"]
    assert list(g) == ["t"] and abs(g["t"] + np.sin(0.5)) < 1e-12
    bare = src.replace("expectation(z(q[0])) all", "z(q[0]) t")  # the form of Braket's docs
    assert abs(qsim.device().run(bare, inputs={"t": 0.5}).result().values[0]["gradient"]["t"] + np.sin(0.5)) < 1e-12
    with pytest.raises(ValidationError, match="unknown parameter"):
        qsim.device().run(src.replace(" all", " s"), inputs={"t": 0.5})
    with pytest.raises(ProgramError, match="parameter name or 'all'"):
        qsim.device().run(src.replace(" all", ""), inputs={"t": 0.5})


def test_braket_sdk_local_simulator_serves_adjoint_gradient():
    """LocalSimulator("qsim") advertises AdjointGradient and returns Braket's result shape; the values
    agree with Braket's own simulator (term expectations, and an 8th-order difference of them)."""
    from braket.circuits import Circuit as BC
    from braket.circuits import FreeParameter as BF
    from braket.circuits import observables as O
    from braket.devices import LocalSimulator

    t, p = BF("theta"), BF("phi")

    def circuit():
        return BC().rx(0, t).ry(1, p).cnot(0, 1).rx(2, 2 * t + p).h(3).xx(2, 3, p)

    c = circuit().adjoint_gradient(observable=-6 * O.Y(0) @ O.I(1) + 0.75 * O.Y(2) @ O.Z(3), parameters=[t, p])
    dev = LocalSimulator("qsim")
    names = [r.name for r in dev.properties.action["braket.ir.openqasm.program"].supportedResultTypes]
    assert "AdjointGradient" in names
    values = {"theta": 0.3, "phi": -0.8}
    res = dev.run(c, shots=0, inputs=values).result()
    assert res.result_types[0].type.type == "adjoint_gradient"
    value = res.values[0]
    ref_dev = LocalSimulator("default")

    def energy(v):
        rc = circuit().expectation(O.Y(0), 0).expectation(O.Y(2) @ O.Z(3), [2, 3])
        a, b = ref_dev.run(rc, shots=0, inputs=v).result().values
        return -6 * a + 0.75 * b

    assert abs(value["expectation"] - energy(values)) < 1e-10
    for name in ("theta", "phi"):
        d = 0.0
        for k, w in ((1, 4 / 5), (2, -1 / 5), (3, 4 / 105), (4, -1 / 280)):
            up, down = dict(values), dict(values)
            up[name] += k * 1e-3
            down[name] -= k * 1e-3
            d += w * (energy(up) - energy(down))
        assert abs(value["gradient"][name] - d / 1e-3) < 1e-7, name


def test_one_qubit_runs_and_a_diagonal_observable_match_the_oracle():
    """The one-pass paths: runs of one-qubit gates on one qubit (constants between rotations, a
    gate with two parameters) and an H made only of Z products."""
    rng = np.random.default_rng(3)
    a, b, g = (FreeParameter(p) for p in NAMES)
    c = Circuit()
    for layer in range(2):
        for q in range(3):
            c.ry(q, a * (q + 1)).h(q).rz(q, b - q).gate("prx", [q], [g, a]).t(q)
        for q in range(2):
            c.cnot(q, q + 1)
    terms = [(0.7, obs.Z(), [0]), (-1.2, obs.Z() @ obs.Z(), [1, 2]), (0.4, obs.I() @ obs.Z(), [0, 2])]
    c.adjoint_gradient(terms)
    values = _values(rng)
    value = qsim.device().run(c, inputs=values).result().values[0]
    ref = oracle_gradient(c, values, terms, list(value["gradient"]))
    assert abs(value["expectation"] - oracle_expectation(c, values, terms)) < 1e-10
    for p, v in value["gradient"].items():
        assert abs(v - ref[p]) < 1e-7, p


def test_rotation_generators_equal_the_fourier_derivative():
    """The closed-form (dU/dt) U^dag of rx, ry, rz, phaseshift equals the exact Fourier
    differentiation used for every other gate."""
    from qsim.circuit import gates as G
    from qsim.state import adjoint as A

    for name, generator in A._GENERATORS.items():
        spec = G.lookup(name)
        for t in (-2.3, 0.0, 0.7, 5.1):
            d = A._base_derivatives(spec, [t])[0] @ spec.matrix(t).conj().T
            np.testing.assert_allclose(generator, d, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("python_max", [None, 0])
def test_permutations_undone_on_both_states_in_one_pass(python_max, monkeypatch):
    """cnot, negctrl cnot, toffoli, x and powers of them (the one-pass x on both states) between
    rotation layers, in both precisions, against the oracle; ``python_max=0`` runs the compiled
    kernels on this small state instead of their plain-Python bodies."""
    from qsim.kernels import tiers

    if python_max is not None:
        monkeypatch.setattr(tiers, "PYTHON_MAX_AMPLITUDES", python_max)
    n = 4
    rng = np.random.default_rng(n)
    ps = [FreeParameter(f"p{i}") for i in range(3)]
    c = Circuit()
    for q in range(n):
        c.ry(q, ps[q % 3]).rz(q, 0.5 * ps[(q + 1) % 3] + 0.1)
    c.cnot(0, n - 1).ccnot(1, 2, 0).x(1)
    c.gate("x", [2], [], control=[0], control_state=[0])
    c.gate("cnot", [n - 1, 1], [], power=3)
    c.ry(0, ps[2]).rx(n - 1, ps[0])
    terms = [(0.7, obs.Z() @ obs.X(), [0, n - 1]), (-1.2, obs.Y(), [1])]
    values = {p.name: float(rng.uniform(-3, 3)) for p in ps}
    c.adjoint_gradient(terms)
    ref = oracle_gradient(c, values, terms, [p.name for p in ps])
    for precision, tol in (("double", 1e-9), ("single", 2e-4)):
        value = qsim.device(precision=precision).run(c, inputs=values).result().values[0]
        for p, g in value["gradient"].items():
            assert abs(g - ref[p]) < tol, (precision, p, g, ref[p])


@pytest.mark.parametrize("n", [1, 4, 7, 12])
def test_sum_of_z_products_applied_in_one_pass(n):
    """``reductions.diagonal_observable`` (tables over the low and high halves of the index, terms
    spanning both evaluated per amplitude) against the parity of each term, computed directly."""
    from qsim.kernels import reductions as KR

    rng = np.random.default_rng(n)
    psi = rng.normal(size=1 << n) + 1j * rng.normal(size=1 << n)
    masks = [int(m) for m in rng.integers(0, 1 << n, size=5)] + [1 << (n - 1), 1, 0, (1 << n) - 1]
    coeffs = list(rng.normal(size=len(masks)))
    out = np.zeros_like(psi)
    KR.diagonal_observable(psi, out, masks, coeffs)
    index = np.arange(1 << n)
    w = sum(c * (1 - 2 * (np.array([bin(int(i) & m).count("1") for i in index]) % 2)) for m, c in zip(masks, coeffs))
    np.testing.assert_allclose(out, psi * w, atol=1e-12)
