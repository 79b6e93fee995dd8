"""Result types: exact values vs the oracle, sampled values (reproducible and statistically right),
Braket's rules on which result types each mode allows, bit order, used-qubit remapping, physical
mid-circuit measurement, and the JSON shape (checked with Braket's own schema package)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import qsim
from oracle import Oracle, assert_close, assert_value_close
from qsim import Circuit, ValidationError
from qsim.circuit import observables as obs
from qsim.circuit.classical import BitRef
from qsim.circuit.operations import Conditional, GateOp, Measure

DEV = qsim.device("local:qsim/statevector")


def run(c, shots=0, seed=None):
    return DEV.run(c, shots=shots, seed=seed).result()


def _entangled3():
    return Circuit().ry(0, 0.9).h(1).cnot(1, 2).rx(2, 0.4).cz(0, 2).t(1).cnot(2, 0)


# ----------------------------------------------------------------------------- exact values
def test_every_exact_result_type_vs_oracle():
    herm = np.array([[2, 1 - 1j], [1 + 1j, -1]])
    c = _entangled3()
    c.state_vector().amplitude(["000", "101", "111"]).probability().probability([2, 0])
    c.density_matrix().density_matrix([2, 1]).density_matrix([1])
    c.expectation(obs.X() @ obs.Y() @ obs.Z(), [0, 1, 2]).expectation(obs.H(), 2)
    c.expectation(obs.Hermitian(herm) @ obs.Z(), [1, 0]).variance(obs.Y() @ obs.H(), [2, 0])
    c.variance(obs.Hermitian(np.kron(herm, herm)), [0, 2]).expectation(obs.Z()).variance(obs.X())
    res = run(c)
    ref = Oracle(c)
    for r, v in zip(c.result_types, res.values):
        assert_value_close(v, ref.value(r), 1e-12, r.kind)
        assert_value_close(res.get_value_by_result_type(r), v, 0)


def test_broadcast_observables_give_one_value_per_qubit():
    c = Circuit().x(2).h(5).expectation(obs.Z()).variance(obs.X()).probability()
    res = run(c)
    assert_close(res.values[0], [-1.0, 0.0], 1e-12)  # qubits 2 and 5, in label order
    assert_close(res.values[1], [1.0, 0.0], 1e-12)
    c = Circuit().x(2).h(5).expectation(obs.X()).sample(obs.X()).measure([2, 5])
    res = run(c, shots=50, seed=3)
    assert len(res.values[0]) == 2 and res.values[0][1] == 1.0
    assert len(res.values[1]) == 2 and all(len(v) == 50 for v in res.values[1])
    assert np.all(np.asarray(res.values[1][1]) == 1)  # h|0> = |+>, x eigenvalue +1


def test_qubit_zero_is_the_most_significant_bit():
    c = Circuit().x(0).i(1).i(2).state_vector().probability().probability([2, 0])
    res = run(c)
    assert res.values[0][0b100] == 1 and np.count_nonzero(res.values[0]) == 1
    assert res.values[1][4] == 1
    assert res.values[2][0b01] == 1  # targets [2, 0]: q2 is the high bit
    res = run(Circuit().x(0).i(1).i(2).measure([0, 1, 2]), shots=5, seed=0)
    assert res.measurements.tolist() == [[1, 0, 0]] * 5
    assert res.measurement_counts == {"100": 5}


def test_only_used_qubits_are_simulated_and_labels_are_kept():
    c = Circuit().h(3).cnot(3, 7).state_vector().probability([7]).density_matrix([7, 3])
    res = run(c)
    assert res.values[0].shape == (4,)
    assert_close(res.values[0], [1 / math.sqrt(2), 0, 0, 1 / math.sqrt(2)], 1e-15)
    assert res.measured_qubits == [3, 7]
    assert res.additional_metadata["qsimMetadata"]["simulatedQubits"] == 2
    res = run(Circuit().h(3).cnot(3, 7).x(7).measure([7, 3]), shots=20, seed=1)
    assert res.measured_qubits == [7, 3]
    assert set(map(tuple, res.measurements.tolist())) <= {(1, 0), (0, 1)}
    with pytest.raises(ValidationError, match="has 3 bits but the program uses 2"):
        run(Circuit().h(3).cnot(3, 7).amplitude("000"))


# ----------------------------------------------------------------------------- rules
@pytest.mark.parametrize("circuit, shots, match", [
    (Circuit().h(0), 0, "at least one result type"),
    (Circuit().h(0).sample(obs.Z(), 0), 0, "'sample' needs shots > 0"),
    (Circuit().h(0).state_vector(), 10, "'statevector' is only available with shots=0"),
    (Circuit().h(0).amplitude("0"), 10, "'amplitude' is only available with shots=0"),
    (Circuit().h(0).density_matrix(), 10, "'densitymatrix' is only available with shots=0"),
    (Circuit().h(0).probability(), -1, "shots must be a non-negative integer"),
    (Circuit().h(0).probability(), 1.5, "shots must be a non-negative integer"),
    (Circuit().h(0).probability(), True, "shots must be a non-negative integer"),
    (Circuit().h(0).cnot(0, 1).expectation(obs.X(), 0).expectation(obs.Z(), 0), 10, "conflicting"),
    (Circuit().h(0).cnot(0, 1).expectation(obs.X() @ obs.Z(), [0, 1]).variance(obs.Y(), 1), 10, "conflicting"),
    (Circuit().h(0).cnot(0, 1).expectation(obs.X()).sample(obs.Z(), 1), 10, "conflicting"),
])
def test_result_type_rules(circuit, shots, match):
    with pytest.raises(ValidationError, match=match):
        run(circuit, shots=shots, seed=0)


def test_compatible_observables_with_shots_are_allowed():
    c = Circuit().h(0).cnot(0, 1).expectation(obs.X(), 0).variance(obs.X() @ obs.I(), [0, 1])
    c.expectation(obs.I() @ obs.Z(), [0, 1]).sample(obs.Z(), 1).probability()
    res = run(c, shots=200, seed=2)
    assert len(res.values) == 5
    # the same observables conflict-free at shots=0 too, and differing ones are fine there
    run(Circuit().h(0).expectation(obs.X(), 0).expectation(obs.Z(), 0))


def test_result_type_construction_errors():
    with pytest.raises(ValidationError, match="needs explicit targets"):
        Circuit().expectation(obs.X() @ obs.Z())
    with pytest.raises(ValidationError, match="acts on 2 qubit"):
        Circuit().expectation(obs.X() @ obs.Z(), [0])
    with pytest.raises(ValidationError, match="repeat"):
        Circuit().probability([1, 1])
    with pytest.raises(ValidationError, match="not a bitstring"):
        Circuit().amplitude("0a")
    with pytest.raises(ValidationError, match="not Hermitian"):
        obs.Hermitian([[0, 1], [0, 0]])


# ----------------------------------------------------------------------------- sampling
def _chi2(counts, probs, shots):
    want = probs * shots
    mask = want > 0
    assert counts[~mask].sum() == 0, "an outcome of probability 0 was sampled"
    return float(np.sum((counts[mask] - want[mask]) ** 2 / want[mask])), int(mask.sum()) - 1


def test_sampled_distribution_chi_square():
    """Fixed seed, so deterministic; the bound is the 99.9% quantile of chi^2 for these dofs (~26 for 7)."""
    c = _entangled3().measure([0, 1, 2])
    shots = 20000
    res = run(c, shots=shots, seed=1234)
    p = Oracle(_entangled3()).probabilities()
    counts = np.bincount(res.measurements @ np.array([4, 2, 1]), minlength=8)
    chi2, dof = _chi2(counts, p, shots)
    assert dof == 7 and chi2 < 26.1, (counts, p * shots)


def test_sampled_result_types_are_consistent_and_statistically_right():
    base = _entangled3()
    # qubit 0 carries no observable, so its probability is not basis-rotated before sampling
    c = Circuit(base.instructions).probability([0]).expectation(obs.X() @ obs.Y(), [1, 2])
    c.variance(obs.X() @ obs.Y(), [1, 2]).sample(obs.X() @ obs.Y(), [1, 2])
    shots = 20000
    res = run(c, shots=shots, seed=99)
    ref = Oracle(base)
    o = obs.X() @ obs.Y()
    mean, var = ref.expectation(o, (1, 2)), ref.variance(o, (1, 2))
    samples = np.asarray(res.values[3])
    assert set(np.unique(samples)) <= {-1.0, 1.0}
    assert res.values[1] == pytest.approx(samples.mean(), abs=1e-12)
    assert res.values[2] == pytest.approx(samples.var(), abs=1e-12)
    sigma = math.sqrt(var / shots)
    assert abs(res.values[1] - mean) < 5 * sigma
    counts = np.round(np.asarray(res.values[0]) * shots).astype(int)
    chi2, dof = _chi2(counts, ref.probabilities([0]), shots)
    assert chi2 < 10.8  # 99.9% quantile for 1 dof


def test_hermitian_sampling_uses_eigenvalues():
    m = np.array([[3, 0], [0, -2]])
    c = Circuit().ry(0, 1.1).expectation(obs.Hermitian(m), 0).sample(obs.Hermitian(m), 0)
    res = run(c, shots=20000, seed=4)
    assert set(np.unique(res.values[1])) == {-2.0, 3.0}
    exact = 3 * math.cos(0.55) ** 2 - 2 * math.sin(0.55) ** 2
    assert abs(res.values[0] - exact) < 5 * 2.5 / math.sqrt(20000)


def test_seed_reproducible_and_seeds_differ():
    c = _entangled3().measure([0, 1, 2])
    a, b, d = run(c, 500, seed=7), run(c, 500, seed=7), run(c, 500, seed=8)
    np.testing.assert_array_equal(a.measurements, b.measurements)
    assert not np.array_equal(a.measurements, d.measurements)
    assert a.additional_metadata["qsimMetadata"]["seed"] == 7
    seeded = qsim.device("local:qsim/statevector", seed=7).run(c, shots=500).result()
    np.testing.assert_array_equal(seeded.measurements, a.measurements)


def test_shots_come_in_random_order():
    """Shots are exchangeable: the first half of the rows has about the same mix as the second."""
    res = run(Circuit().h(0).measure(0), shots=2000, seed=11)
    col = res.measurements[:, 0]
    assert abs(col[:1000].mean() - col[1000:].mean()) < 0.1
    assert 0 < col[:100].sum() < 100


def test_single_precision_samples_and_results():
    dev = qsim.device("local:qsim/statevector", precision="single")
    c = _entangled3()
    c.probability().expectation(obs.Z() @ obs.X(), [0, 2])
    res = dev.run(c).result()
    ref = Oracle(c)
    assert_close(res.values[0], ref.probabilities(), 1e-6)
    assert abs(res.values[1] - ref.expectation(obs.Z() @ obs.X(), (0, 2))) < 1e-6
    assert res.additional_metadata["qsimMetadata"]["precision"] == "single"


# ----------------------------------------------------------------------------- mid-circuit measurement
def _feed_forward():
    """h q0; measure q0 -> b0; if (b0) x q1; measure q1 -> b1"""
    c = Circuit().h(0).add(Measure(0, 0))
    c.add(Conditional(BitRef(0), (GateOp("x", (1,)),)))
    return c.add(Measure(1, 1))


def test_feed_forward_each_shot_follows_its_outcome():
    res = run(_feed_forward(), shots=1000, seed=5)
    counts = res.measurement_counts
    assert set(counts) == {"00", "11"}
    assert 400 < counts["11"] < 600
    assert res.measured_qubits == [0, 1]
    assert res.additional_metadata["qsimMetadata"]["midCircuitMeasurements"] >= 1


def test_feed_forward_exact_ensemble():
    c = _feed_forward()
    c.probability().density_matrix().expectation(obs.Z() @ obs.Z(), [0, 1])
    res = run(c)
    assert_close(res.values[0], [0.5, 0, 0, 0.5], 1e-14)
    assert_close(res.values[1], np.diag([0.5, 0, 0, 0.5]), 1e-14)  # dephased: no coherence left
    assert res.values[2] == pytest.approx(1.0)
    ref = Oracle(c)
    for r, v in zip(c.result_types, res.values):
        assert_value_close(v, ref.value(r), 1e-14)


def test_state_vector_of_a_mixed_state_is_refused():
    c = _feed_forward().state_vector()
    with pytest.raises(ValidationError, match="mixture of 2 branches"):
        run(c)
    c = Circuit().h(0).cnot(0, 1).reset(0).amplitude("00")
    with pytest.raises(ValidationError, match="'amplitude' is not defined"):
        run(c)


def test_reset_of_an_entangled_qubit_is_physical():
    c = Circuit().h(0).cnot(0, 1).reset(0).h(1).probability().density_matrix([1])
    res = run(c)
    assert_close(res.values[0], [0.5, 0.5, 0, 0], 1e-14)  # Braket 1.41.2 gives [1, 0, 0, 0]
    assert_close(res.values[1], np.eye(2) / 2, 1e-14)


def test_reset_of_an_unentangled_qubit_keeps_a_pure_state():
    c = Circuit().h(0).x(1).rx(0, 0.3).reset(0).h(0).state_vector()
    res = run(c)
    sv = res.values[0]
    # the two outcomes leave the same state up to a global phase, which a mixture cannot observe:
    # compare up to that phase
    phase = sv[1] / abs(sv[1])
    assert_close(sv / phase, [0, 1 / math.sqrt(2), 0, 1 / math.sqrt(2)], 1e-14)
    assert res.additional_metadata["qsimMetadata"]["resets"] == 1


def test_measured_then_reused_qubit_with_shots():
    c = Circuit().h(0).add(Measure(0, 0)).h(0).add(Measure(0, 1))
    res = run(c, shots=4000, seed=6)
    counts = res.measurement_counts
    assert set(counts) == {"00", "01", "10", "11"}
    assert all(900 < v < 1100 for v in counts.values())


# ----------------------------------------------------------------------------- JSON
def _strip_none(d):
    return {k: v for k, v in d.items() if v is not None}


def test_result_type_json_spellings_match_braket_jaqcd():
    from braket.ir import jaqcd

    herm = [[[1.0, 0.0], [0.0, 0.0]], [[0.0, 0.0], [-1.0, 0.0]]]
    c = Circuit().h(0).cnot(0, 1)
    c.expectation(obs.Z(), 0).variance(obs.X() @ obs.Y(), [0, 1]).expectation(obs.Hermitian(np.diag([1, -1])), 1)
    c.probability().probability([1]).density_matrix([0]).state_vector().amplitude(["00", "11"])
    c.expectation(obs.H())
    expected = [
        jaqcd.Expectation(observable=["z"], targets=[0]),
        jaqcd.Variance(observable=["x", "y"], targets=[0, 1]),
        jaqcd.Expectation(observable=[herm], targets=[1]),
        jaqcd.Probability(),
        jaqcd.Probability(targets=[1]),
        jaqcd.DensityMatrix(targets=[0]),
        jaqcd.StateVector(),
        jaqcd.Amplitude(states=["00", "11"]),
        jaqcd.Expectation(observable=["h"]),
    ]
    got = run(c).to_dict()["resultTypes"]
    for entry, want in zip(got, expected):
        assert entry["type"] == _strip_none(want.dict()), entry["type"]
    assert got[0]["type"] == {"type": "expectation", "observable": ["z"], "targets": [0]}


def test_to_dict_shape_and_braket_schema_parse():
    from braket.task_result import GateModelTaskResult

    c = _entangled3()
    c.state_vector().amplitude("010").probability([2]).density_matrix([0, 1])
    c.expectation(obs.Z() @ obs.Z(), [0, 2]).variance(obs.Y())
    d = run(c).to_dict()
    assert d["braketSchemaHeader"] == {"name": "braket.task_result.gate_model_task_result", "version": "1"}
    assert d["measuredQubits"] == [0, 1, 2]
    assert [e["type"]["type"] for e in d["resultTypes"]] == ["statevector", "amplitude", "probability",
                                                              "densitymatrix", "expectation", "variance"]
    sv = d["resultTypes"][0]["value"]
    assert len(sv) == 8 and all(len(z) == 2 for z in sv)  # complex as [re, im]
    assert set(d["resultTypes"][1]["value"]) == {"010"}
    assert isinstance(d["resultTypes"][5]["value"], list) and len(d["resultTypes"][5]["value"]) == 3
    meta = d["taskMetadata"]
    assert meta["shots"] == 0 and meta["deviceId"] == "local:qsim/statevector"
    for key in ("id", "createdAt", "endedAt", "executionDuration"):
        assert key in meta
    parsed = GateModelTaskResult.parse_obj(d)
    assert parsed.taskMetadata.shots == 0
    assert len(parsed.resultTypes) == 6

    s = Circuit(_entangled3().instructions).probability().expectation(obs.X(), 1).measure([2, 0])
    d = run(s, shots=30, seed=1).to_dict()
    assert len(d["measurements"]) == 30 and all(len(row) == 2 for row in d["measurements"])
    assert d["measuredQubits"] == [2, 0]
    parsed = GateModelTaskResult.parse_obj(d)
    assert parsed.measurements == d["measurements"]
    import json

    assert json.loads(run(s, shots=3, seed=1).to_json()) is not None


def test_measurement_counts_and_probabilities():
    res = run(Circuit().x(1).i(0).measure([0, 1]), shots=10, seed=0)
    assert res.measurement_counts == {"01": 10}
    assert res.measurement_probabilities == {"01": 1.0}
    res = run(Circuit().x(0).probability())
    assert res.measurement_counts == {} and res.measurement_probabilities == {}
    with pytest.raises(ValueError, match="was not requested"):
        res.get_value_by_result_type(qsim.circuit.StateVector())


# ----------------------------------------------------------------------------- JSON, a chunk at a time
@pytest.mark.parametrize("indent", [None, 1])
def test_write_json_streams_large_arrays_as_to_dict_spells_them(monkeypatch, indent):
    import io
    import json

    from qsim.state import results

    monkeypatch.setattr(results, "_STREAM_MIN_ENTRIES", 2)  # stream everything, in tiny chunks
    monkeypatch.setattr(results, "CHUNK_ENTRIES", 3)
    c = _entangled3().state_vector().probability().density_matrix([0, 2]).amplitude(["011"])
    for precision in ("double", "single"):
        res = qsim.device(precision=precision).run(c).result()
        buf = io.StringIO()
        res.write_json(buf, indent=indent)
        assert json.loads(buf.getvalue()) == json.loads(json.dumps(res.to_dict()))
        assert json.loads(res.to_json(indent=indent)) == json.loads(buf.getvalue())
        sv = json.loads(buf.getvalue())["resultTypes"][0]["value"]
        assert_close(np.array(sv) @ [1, 1j], Oracle(c).state_vector(), 2e-6 if precision == "single" else 1e-12)
    res = run(Circuit().h(0).cnot(0, 1).x(2).measure([2, 0, 1]), shots=7, seed=2)
    d = json.loads(res.to_json(indent=indent))
    assert d == json.loads(json.dumps(res.to_dict())) and d["measurements"] == res.measurements.tolist()
    arrays = res.to_dict(arrays=True)
    assert isinstance(arrays["measurements"], np.ndarray)


def test_state_vector_result_is_the_state_in_its_precision():
    c = Circuit().h(0).cnot(0, 1).rx(2, 0.3).state_vector()
    for precision, dtype in (("double", np.complex128), ("single", np.complex64)):
        v = qsim.device(precision=precision).run(c).result().values[0]
        assert v.dtype == dtype
        assert_close(v, Oracle(c).state_vector(), 1e-6 if precision == "single" else 1e-14)


# ----------------------------------------------------------------------------- complex64
def _random_circuit(n, gates, seed):
    rng = np.random.default_rng(seed)
    c = Circuit()
    for _ in range(gates):
        q = [int(x) for x in rng.permutation(n)[:3]]
        kind = rng.integers(5)
        if kind == 0:
            c.rx(q[0], float(rng.uniform(0, 6.3))).rz(q[1], float(rng.uniform(0, 6.3)))
        elif kind == 1:
            c.cnot(q[0], q[1])
        elif kind == 2:
            c.swap(q[0], q[1])
        elif kind == 3:
            c.cphaseshift(q[0], q[1], float(rng.uniform(0, 6.3)))
        else:
            c.ccnot(q[0], q[1], q[2]).h(q[2])
    return c


def test_single_precision_agrees_with_double_within_the_stated_tolerance(monkeypatch):
    """docs/precision.md: ||psi_single - psi_double|| <= 1e-7 G, probabilities within 2e-7 G,
    Pauli expectation values within 2e-7 G, for G gates; the same seed draws the same shots."""
    import sys

    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent.parent))
    from benchmarks import workloads as W

    for c in (W.brick(10, layers=6), W.qft(11), _random_circuit(9, 150, 3)):  # (double vs the oracle: elsewhere)
        g = len(c.instructions)
        c.result_types.clear()
        c.state_vector().probability().expectation(obs.Z()).expectation(obs.X() @ obs.Y(), [0, 2])
        double, single = (qsim.device(precision=p).run(c).result() for p in ("double", "single"))
        assert single.values[0].dtype == np.complex64
        assert np.linalg.norm(single.values[0] - double.values[0]) <= 1e-7 * g
        assert np.abs(single.values[1] - double.values[1]).max() <= 2e-7 * g
        assert np.abs(np.subtract(single.values[2], double.values[2])).max() <= 2e-7 * g
        assert abs(single.values[3] - double.values[3]) <= 2e-7 * g
        sampled = Circuit(c.instructions).measure(list(range(4)))
        a, b = (qsim.device(precision=p).run(sampled, shots=300, seed=5).result().measurements
                for p in ("double", "single"))
        assert (a != b).any(axis=1).sum() <= 3  # only draws next to a CDF boundary may differ
    monkeypatch.setenv("QSIM_PRECISION", "single")  # the default of every front door
    assert qsim.device().precision == "single"
    monkeypatch.setenv("QSIM_PRECISION", "half")
    with pytest.raises(ValidationError, match="QSIM_PRECISION='half'"):
        qsim.device()
