"""Random circuits (hypothesis, derandomised: the same examples on every run) through the whole
device path — remapping, fusion, kernel dispatch, result types — against the dense oracle.

Pure circuits compare the state vector exactly (global phase included) to 1e-10; circuits with
mid-circuit measurement, reset and feed-forward compare the exact (shots=0) ensemble results with the
oracle's classical-quantum density matrix.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import qsim
from oracle import GATES as ORACLE_GATES
from oracle import Oracle, assert_close, assert_value_close
from qsim import Circuit
from qsim.circuit import observables as obs
from qsim.circuit.classical import Binary, BitRef, Const, Unary
from qsim.circuit.operations import Conditional, GateOp, Measure, Reset

SETTINGS = dict(deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
EXPONENTS = [(), (), (), (-1.0,), (2.0,), (0.5,), (-0.5,), (1 / 3,), (0.5, -1.0)]
DEVICE = qsim.device("local:qsim/statevector")

angles = st.floats(min_value=-2 * math.pi, max_value=2 * math.pi, allow_nan=False)


@st.composite
def gate_ops(draw, labels):
    name = draw(st.sampled_from(sorted(n for n in ORACLE_GATES if n != "gphase") + ["gphase", "unitary"]))
    if name == "unitary":
        k = draw(st.integers(1, min(3, len(labels))))
        seed = draw(st.integers(0, 2**31))
        from oracle import random_unitary

        unitary = random_unitary(k, np.random.default_rng(seed))
        nparams = 0
    else:
        k, nparams, _ = ORACLE_GATES[name]
        unitary = None
        if name == "ms":
            nparams = draw(st.sampled_from([2, 3]))
    if k > len(labels):
        name, k, nparams, unitary = "h", 1, 0, None
    qubits = draw(st.permutations(labels))
    targets = tuple(qubits[:k])
    nc = draw(st.integers(0, min(2, len(labels) - k)))
    controls = tuple(qubits[k:k + nc])
    states = tuple(draw(st.lists(st.integers(0, 1), min_size=nc, max_size=nc)))
    params = tuple(draw(st.lists(angles, min_size=nparams, max_size=nparams)))
    exps = draw(st.sampled_from(EXPONENTS))
    return GateOp(name, targets, params, controls, states, exps, unitary)


@st.composite
def labels_strategy(draw, max_qubits=5):
    n = draw(st.integers(1, max_qubits))
    return sorted(draw(st.lists(st.integers(0, 9), min_size=n, max_size=n, unique=True)))


@st.composite
def observables_on(draw, labels):
    """(observable, targets) with 1-3 factors on distinct qubits."""
    qubits = draw(st.permutations(labels))
    factors, targets = [], []
    i = 0
    while i < len(qubits) and len(factors) < 3:
        kind = draw(st.sampled_from(["x", "y", "z", "h", "i", "herm1", "herm2"]))
        if kind == "herm2" and i + 1 < len(qubits):
            a = np.random.default_rng(draw(st.integers(0, 999))).normal(size=(4, 4, 2))
            m = a[..., 0] + 1j * a[..., 1]
            factors.append(obs.Hermitian(m + m.conj().T))
            targets += qubits[i:i + 2]
            i += 2
        elif kind.startswith("herm"):
            a = np.random.default_rng(draw(st.integers(0, 999))).normal(size=(2, 2, 2))
            m = a[..., 0] + 1j * a[..., 1]
            factors.append(obs.Hermitian(m + m.conj().T))
            targets.append(qubits[i])
            i += 1
        else:
            factors.append(obs.named(kind))
            targets.append(qubits[i])
            i += 1
        if draw(st.booleans()):
            break
    o = factors[0]
    for f in factors[1:]:
        o = o @ f
    return o, tuple(targets)


@st.composite
def pure_circuits(draw):
    labels = draw(labels_strategy())
    ops = draw(st.lists(gate_ops(labels), min_size=1, max_size=25))
    c = Circuit([GateOp("i", (q,)) for q in labels] + ops)  # every label used
    c.state_vector()
    o, t = draw(observables_on(labels))
    c.expectation(o, t).variance(o, t)
    c.probability(tuple(draw(st.permutations(labels)))[:draw(st.integers(1, len(labels)))])
    c.density_matrix(tuple(draw(st.permutations(labels)))[:draw(st.integers(1, min(3, len(labels))))])
    c.amplitude(["".join(draw(st.sampled_from("01")) for _ in labels)])
    return c


@settings(max_examples=100, **SETTINGS)
@given(pure_circuits(), st.sampled_from(["double", "single"]))
def test_pure_circuits_match_oracle(circuit, precision):
    dev = DEVICE if precision == "double" else qsim.device("local:qsim/statevector", precision="single")
    res = dev.run(circuit, shots=0).result()
    ref = Oracle(circuit)
    tol = 1e-10 if precision == "double" else 5e-5
    sv = res.values[0]
    assert abs(np.linalg.norm(sv) - 1) < tol, "norm not preserved"
    for r, v in zip(circuit.result_types, res.values):
        assert_value_close(v, ref.value(r), tol * (1 + _scale(r)), f"{r.kind}")


def _scale(r):
    """Hermitian observables are not normalised: scale the tolerance with their norm."""
    o = getattr(r, "observable", None)
    if o is None:
        return 0.0
    return float(np.prod([np.abs(f.matrix).sum() for f in o.factors])) ** 2


@settings(max_examples=20, **SETTINGS)
@given(pure_circuits())
def test_fusion_off_gives_the_same_state(circuit):
    a = qsim.device("local:qsim/statevector", fusion=False).run(circuit).result().values[0]
    b = DEVICE.run(circuit).result().values[0]
    assert_close(a, b, 1e-12)


# ----------------------------------------------------------------------------- mixed circuits
@st.composite
def conditions(draw, nbits):
    b = BitRef(draw(st.integers(0, nbits - 1)))
    kind = draw(st.sampled_from(["bit", "eq0", "not", "and"]))
    if kind == "bit":
        return b
    if kind == "eq0":
        return Binary("==", b, Const(0))
    if kind == "not":
        return Unary("!", b)
    return Binary("&&", b, BitRef(draw(st.integers(0, nbits - 1))))


@st.composite
def mixed_ops(draw, labels, depth=0):
    nbits = 3
    kind = draw(st.sampled_from(["gate"] * 4 + ["measure", "reset"] + (["if"] if depth == 0 else [])))
    if kind == "gate":
        return draw(gate_ops(labels))
    if kind == "measure":
        return Measure(draw(st.sampled_from(labels)), draw(st.integers(0, nbits - 1)))
    if kind == "reset":
        return Reset(draw(st.sampled_from(labels)))
    then_ops = tuple(draw(st.lists(mixed_ops(labels, depth + 1), min_size=1, max_size=3)))
    else_ops = tuple(draw(st.lists(mixed_ops(labels, depth + 1), max_size=2)))
    return Conditional(draw(conditions(nbits)), then_ops, else_ops)


@st.composite
def mixed_circuits(draw):
    labels = draw(labels_strategy(4))
    ops = draw(st.lists(mixed_ops(labels), min_size=1, max_size=14))
    c = Circuit(ops)
    for q in labels:  # every label used, so the oracle and qsim simulate the same qubits
        c.add(GateOp("i", (q,)))
    o, t = draw(observables_on(labels))
    c.probability().expectation(o, t).variance(o, t).density_matrix(tuple(labels[:2]))
    c.expectation(obs.Z())  # broadcast over every qubit
    return c


@settings(max_examples=80, **SETTINGS)
@given(mixed_circuits())
def test_mid_circuit_measurement_ensembles_match_density_matrix_oracle(circuit):
    res = DEVICE.run(circuit, shots=0).result()
    ref = Oracle(circuit)
    assert abs(np.trace(ref.rho) - 1) < 1e-12
    for r, v in zip(circuit.result_types, res.values):
        assert_value_close(v, ref.value(r), 1e-10 * (1 + _scale(r)), f"{r.kind}")


@settings(max_examples=12, **SETTINGS)
@given(mixed_circuits(), st.integers(0, 2**32 - 1))
def test_sampling_is_reproducible_for_a_seed(circuit, seed):
    c = Circuit(circuit.instructions)
    c.probability()
    a = DEVICE.run(c, shots=64, seed=seed).result()
    b = DEVICE.run(c, shots=64, seed=seed).result()
    np.testing.assert_array_equal(a.measurements, b.measurements)
    np.testing.assert_array_equal(a.values[0], b.values[0])
    # every sampled outcome has non-zero exact probability
    exact = Oracle(c).probabilities()
    for row_prob in np.nonzero(a.values[0])[0]:
        assert exact[row_prob] > 1e-12


@pytest.mark.parametrize("n", [13, 14])
def test_large_marginals_and_chunked_sampling(n):
    """Above 12 probability targets the marginal uses the other kernel; above 2^12 amplitudes
    sampling is chunked.  Both sides of both thresholds against the oracle."""
    rng = np.random.default_rng(n)
    c = Circuit()
    for q in range(n):
        c.ry(q, float(rng.uniform(0, math.pi)))
    for q in range(n - 1):
        c.cnot(q, q + 1)
    c.probability(list(range(n))[::-1]).probability([0, 5, 3]).state_vector()
    res = DEVICE.run(c).result()
    psi = res.values[2]
    # the state vector of this product-then-cnot-chain circuit from the oracle on n qubits is too
    # big for the dense oracle; check the marginals against the returned state instead, then the
    # state against a direct product construction
    p = np.abs(psi) ** 2
    from oracle import marginal

    assert_close(res.values[0], marginal(p, n, list(range(n))[::-1]), 1e-12)
    assert_close(res.values[1], marginal(p, n, [0, 5, 3]), 1e-12)
    prod = np.ones(1)
    for q in range(n):
        t = float(c.instructions[q].params[0])
        prod = np.kron(prod, [math.cos(t / 2), math.sin(t / 2)])
    idx = np.arange(1 << n)
    # cnot chain: new bit q = XOR of old bits 0..q (big-endian), i.e. a prefix-XOR permutation
    out = np.zeros(1 << n, dtype=complex)
    for i in idx:
        bits = [(i >> (n - 1 - q)) & 1 for q in range(n)]
        acc, new = 0, 0
        for b in bits:
            acc ^= b
            new = (new << 1) | acc
        out[new] = prod[i]
    assert_close(psi, out, 1e-12)
    cs = Circuit(c.instructions).measure(list(range(n)))
    shots = 4000
    r = DEVICE.run(cs, shots=shots, seed=5).result()
    rows = r.measurements @ (1 << np.arange(n - 1, -1, -1))
    assert np.all(p[rows] > 0)
    # chi-square on the first qubit's marginal and one two-qubit marginal
    for qs in ([0], [n - 1, 2]):
        want = marginal(p, n, qs) * shots
        got = np.bincount(r.measurements[:, qs] @ (1 << np.arange(len(qs) - 1, -1, -1)), minlength=len(want))
        chi2 = float(np.sum((got - want) ** 2 / np.maximum(want, 1e-9)))
        assert chi2 < 30, (qs, got, want)
