"""qsim as a Braket SDK backend: LocalSimulator("qsim") against LocalSimulator("braket_sv")."""

import numpy as np
import pytest

import braket.devices  # noqa: F401  (amazon-braket-sdk is a test dependency)
from braket.circuits import Circuit as BraketCircuit  # noqa: E402
from braket.circuits import observables as bobs  # noqa: E402
from braket.devices import LocalSimulator  # noqa: E402


def test_registered_by_entry_point():
    assert "qsim" in LocalSimulator.registered_backends()


def _bell_plus():
    return (BraketCircuit().h(0).cnot(0, 1).ry(2, 0.3).cz(2, 0).rx(1, 0.7)
            .probability([2, 0]).expectation(bobs.Z() @ bobs.X(), [0, 2]).state_vector()
            .amplitude(["000", "111"]).variance(bobs.Y(), 1))


def test_exact_results_match_braket_sv():
    ours = LocalSimulator("qsim").run(_bell_plus(), shots=0).result()
    theirs = LocalSimulator("braket_sv").run(_bell_plus(), shots=0).result()
    assert len(ours.values) == len(theirs.values) == 5
    np.testing.assert_allclose(ours.values[0], theirs.values[0], atol=1e-12)
    assert ours.values[1] == pytest.approx(theirs.values[1], abs=1e-12)
    np.testing.assert_allclose(ours.values[2], theirs.values[2], atol=1e-12)
    for k in ("000", "111"):
        assert complex(ours.values[3][k]) == pytest.approx(complex(theirs.values[3][k]), abs=1e-12)
    assert ours.values[4] == pytest.approx(theirs.values[4], abs=1e-12)


def test_sampled_counts_are_braket_shaped():
    circ = BraketCircuit().h(0).cnot(0, 1)
    task = LocalSimulator("qsim").run(circ, shots=400)
    result = task.result()
    counts = result.measurement_counts
    assert set(counts) <= {"00", "11"} and sum(counts.values()) == 400
    assert 120 < counts["00"] < 280  # binomial(400, 1/2): 8 standard deviations either side
    assert result.measured_qubits == [0, 1]
    assert result.measurements.shape == (400, 2)


def test_capabilities_document_parses():
    props = LocalSimulator("qsim").properties
    action = props.action["braket.ir.openqasm.program"]
    assert "cnot" in action.supportedOperations and "unitary" in action.supportedOperations
    assert props.paradigm.qubitCount >= 20
