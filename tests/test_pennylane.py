"""``qsim.qubit`` (qsim.integrations.pennylane) against PennyLane's default.qubit.

Analytic results must agree to rounding; sampled ones within 5 standard deviations of the shot
noise (the variance of each estimator computed from default.qubit's exact values), with fixed seeds.
The MPI part runs one script under ``mpirun -n 2`` and compares it with the same script in one process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pennylane as qml
import pytest
from pennylane import numpy as pnp

from qsim.integrations import pennylane_translate as tr
from qsim.launch import find_mpirun

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
H = qml.Hamiltonian([0.5, -0.2, 1.0, 0.3], [qml.X(0) @ qml.Z(1), qml.Y(2), qml.Z(0), qml.X(1) @ qml.Y(2)])
HERM = np.array([[1.0, 0.5 - 0.5j], [0.5 + 0.5j, -2.0]])


def ansatz(x, y, wires):
    a, b, c = wires[:3]
    qml.RX(x, a)
    qml.CNOT([a, b])
    qml.RY(y, c)
    qml.CRX(0.4, [c, b])
    qml.Rot(0.1, 0.2, 0.3, b)
    qml.ctrl(qml.S(a), c, control_values=0)
    qml.adjoint(qml.T(b))
    qml.IsingXY(0.7, [a, c])
    qml.MultiRZ(0.3, [a, b, c])


def pair(measure, wires=3, **kwargs):
    """The same QNode on qsim.qubit and default.qubit."""
    def circuit(x, y):
        ansatz(x, y, list(qml.wires.Wires(range(wires)) if isinstance(wires, int) else wires))
        return measure()
    return (qml.QNode(circuit, qml.device("qsim.qubit", wires=wires, seed=11), **kwargs),
            qml.QNode(circuit, qml.device("default.qubit", wires=wires), **kwargs))


ANALYTIC = {
    "expval": lambda: qml.expval(qml.Z(0) @ qml.X(2)),
    "var": lambda: qml.var(qml.Y(1)),
    "probs": lambda: qml.probs(wires=[2, 0]),
    "probs_op": lambda: qml.probs(op=qml.X(1)),
    "hamiltonian": lambda: qml.expval(H),
    "var_hamiltonian": lambda: qml.var(H),
    "hermitian": lambda: qml.expval(qml.Hermitian(HERM, 1)),
    "projector": lambda: qml.expval(qml.Projector([1, 0], [0, 2])),
    "sum_prod": lambda: qml.expval(qml.prod(qml.X(0), qml.Hermitian(HERM, 2)) + 0.5 * qml.Z(1)),
    "state": lambda: qml.state(),
    "density_matrix": lambda: qml.density_matrix([0, 2]),
    "vn_entropy": lambda: qml.vn_entropy([1]),
    "several": lambda: (qml.expval(qml.X(0)), qml.expval(qml.Z(0)), qml.probs([1])),
}


@pytest.mark.parametrize("name", list(ANALYTIC))
def test_analytic_matches_default_qubit(name):
    ours, ref = pair(ANALYTIC[name])
    for got, want in zip(np.atleast_1d(ours(0.7, -0.4)) if name != "several" else ours(0.7, -0.4),
                         np.atleast_1d(ref(0.7, -0.4)) if name != "several" else ref(0.7, -0.4)):
        np.testing.assert_allclose(got, want, atol=1e-10)


def test_wire_labels_and_unused_wires():
    wires = ["anc", "q1", 7, "unused"]
    ours, ref = pair(lambda: (qml.state(), qml.expval(qml.Z("q1") @ qml.X(7)), qml.probs(wires=["unused", "anc"])),
                     wires=wires)
    # ansatz uses the first three labels; 'unused' stays |0> but is part of the state.
    for got, want in zip(ours(0.3, 1.1), ref(0.3, 1.1)):
        np.testing.assert_allclose(got, want, atol=1e-10)


def test_broadcast_and_batches():
    ours, ref = pair(lambda: qml.expval(H))
    xs = np.array([0.1, 0.5, 2.0])
    np.testing.assert_allclose(ours(xs, 0.2), ref(xs, 0.2), atol=1e-10)
    tapes = [qml.tape.QuantumScript([qml.RX(x, 0), qml.CNOT([0, 1])], [qml.expval(qml.Z(1)), qml.probs([0, 1])])
             for x in (0.2, 1.3)]
    got = qml.execute(tapes, qml.device("qsim.qubit", wires=2))
    want = qml.execute(tapes, qml.device("default.qubit", wires=2))
    for g, w in zip(got, want):
        for a, b in zip(g, w):
            np.testing.assert_allclose(a, b, atol=1e-10)


def test_gates_translate_to_the_same_matrices():
    """Every named translation gives qsim the gate of PennyLane's own matrix."""
    from qsim.circuit.gates import lookup

    for name, qsim_name in tr.NAMED.items():
        cls = getattr(qml, name)
        params = [0.37, -1.2, 2.1][:cls.num_params]
        op = cls(*params, wires=range(cls.num_wires if isinstance(cls.num_wires, int) else 1))
        np.testing.assert_allclose(lookup(qsim_name).matrix(*params), qml.matrix(op), atol=1e-12, err_msg=name)


def test_global_phase_and_controls_in_the_state():
    def circuit():
        qml.H(0)
        qml.ctrl(qml.GlobalPhase(0.4), control=0)
        qml.GlobalPhase(0.3)
        qml.ctrl(qml.RY(0.5, 2), control=[0, 1], control_values=[1, 0])
        qml.pow(qml.S(1), 3)
        return qml.state()
    np.testing.assert_allclose(qml.QNode(circuit, qml.device("qsim.qubit", wires=3))(),
                               qml.QNode(circuit, qml.device("default.qubit", wires=3))(), atol=1e-12)


def test_mid_circuit_measurement_is_deferred():
    def circuit(x):
        qml.RX(x, 0)
        m = qml.measure(0)
        qml.cond(m, qml.X)(1)
        return qml.probs(wires=[1]), qml.expval(m)
    dev = qml.device("qsim.qubit", wires=3)
    got = qml.QNode(circuit, dev)(0.9)
    want = qml.QNode(circuit, qml.device("default.qubit", wires=3))(0.9)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, atol=1e-10)


SHOTS = 20000


def test_samples_statistics_and_seed():
    def circuit(x, y):
        ansatz(x, y, [0, 1, 2])
        return (qml.expval(H), qml.var(qml.X(2)), qml.probs(wires=[2, 0]), qml.sample(qml.Z(1)),
                qml.counts(wires=[0, 1]))
    ours = qml.set_shots(qml.QNode(circuit, qml.device("qsim.qubit", wires=3, seed=5)), SHOTS)
    exact = qml.QNode(lambda x, y: (ansatz(x, y, [0, 1, 2]), qml.expval(H), qml.var(H), qml.expval(qml.X(2)),
                                    qml.expval(qml.X(2) @ qml.X(2)), qml.probs(wires=[2, 0]), qml.probs(wires=[0, 1]),
                                    qml.expval(qml.Z(1)))[1:],
                      qml.device("default.qubit", wires=3))
    e_h, v_h, e_x, _, probs, probs01, e_z1 = exact(0.7, -0.4)
    h, var_x, p, sample, counts = ours(0.7, -0.4)
    # H is measured term by term (split into commuting groups): its variance bounds the noise
    # only when all terms share samples, so use the sum of the terms' standard deviations.
    bound = sum(abs(c) for c in H.terms()[0]) / np.sqrt(SHOTS)
    assert abs(h - e_h) < 5 * bound
    assert abs(var_x - (1 - e_x ** 2)) < 5 * 2 / np.sqrt(SHOTS)
    assert np.all(np.abs(p - probs) < 5 * np.sqrt(probs * (1 - probs) / SHOTS) + 1e-12)
    assert sample.shape == (SHOTS,) and set(np.unique(sample)) <= {-1.0, 1.0}
    assert abs(sample.mean() - e_z1) < 5 / np.sqrt(SHOTS)
    assert sum(counts.values()) == SHOTS
    for key, n in counts.items():
        q = probs01[int(key, 2)]
        assert abs(n / SHOTS - q) < 5 * np.sqrt(q * (1 - q) / SHOTS) + 1e-12
    # Same seed, same samples; another seed, other samples.
    again = qml.set_shots(qml.QNode(circuit, qml.device("qsim.qubit", wires=3, seed=5)), SHOTS)(0.7, -0.4)
    other = qml.set_shots(qml.QNode(circuit, qml.device("qsim.qubit", wires=3, seed=6)), SHOTS)(0.7, -0.4)
    assert np.array_equal(again[3], sample) and not np.array_equal(other[3], sample)


def test_shot_vector():
    def circuit():
        qml.H(0)
        return qml.expval(qml.Z(0)), qml.sample(wires=[0])
    result = qml.set_shots(qml.QNode(circuit, qml.device("qsim.qubit", wires=1, seed=1)), [100, (10, 2)])()
    assert len(result) == 3 and [len(r[1]) for r in result] == [100, 10, 10]
    assert all(abs(r[0]) <= 1 for r in result)


@pytest.mark.parametrize("diff_method", ["parameter-shift", "finite-diff"])
def test_gradients_match_default_qubit(diff_method):
    ours, ref = pair(lambda: qml.expval(H), diff_method=diff_method)
    x, y = pnp.array(0.7, requires_grad=True), pnp.array(-0.4, requires_grad=True)
    exact = qml.grad(qml.QNode(ref.func, qml.device("default.qubit", wires=3), diff_method="backprop"))(x, y)
    got = qml.grad(ours)(x, y)
    np.testing.assert_allclose(got, exact, atol=1e-10 if diff_method == "parameter-shift" else 1e-5)
    jac = qml.jacobian(pair(lambda: qml.probs(wires=[0, 2]), diff_method=diff_method)[0])(x, y)
    want = qml.jacobian(qml.QNode(pair(lambda: qml.probs(wires=[0, 2]))[1].func,
                                  qml.device("default.qubit", wires=3), diff_method="backprop"))(x, y)
    np.testing.assert_allclose(jac, want, atol=1e-10 if diff_method == "parameter-shift" else 1e-5)


def test_adjoint_gradients_match_default_qubit():
    """diff_method="adjoint" runs qsim's adjoint_gradient (one run per expectation value)."""
    def circuit(x, y):
        ansatz(x, y, [0, 1, 2])
        qml.U3(x, y, 0.3, wires=1)
        qml.ctrl(qml.RZ(y, 0), [1, 2])
        qml.Rot(y, x, 0.2, wires=2)  # not a qsim gate: decomposed so that qsim sees RZ/RY
        return qml.expval(H), qml.expval(qml.Hermitian(np.array([[1, 2], [2, -1]]), 2))

    x, y = pnp.array(0.7, requires_grad=True), pnp.array(-0.4, requires_grad=True)
    dev = qml.device("qsim.qubit", wires=3)
    ours = qml.QNode(circuit, dev, diff_method="adjoint")
    ref = qml.QNode(circuit, qml.device("default.qubit", wires=3), diff_method="backprop")
    stack = lambda q: lambda x, y: qml.math.stack(q(x, y))  # noqa: E731
    with dev.tracker:
        got = qml.jacobian(stack(ours))(x, y)
    np.testing.assert_allclose(got, qml.jacobian(stack(ref))(x, y), atol=1e-10)
    totals = dev.tracker.totals  # derivatives from the device, no parameter-shift runs behind them
    assert totals.get("derivatives", 0) >= 1, totals
    best = qml.QNode(lambda x: (qml.RX(x, 0), qml.expval(qml.Z(0)))[1], dev)
    assert qml.workflow.get_best_diff_method(best)(0.3) == "adjoint"
    assert np.isclose(qml.grad(best)(pnp.array(0.3, requires_grad=True)), -np.sin(0.3))


def test_registered_through_the_entry_point():
    from importlib.metadata import entry_points

    (ep,) = [e for e in entry_points(group="pennylane.plugins") if e.name == "qsim.qubit"]
    assert ep.value == "qsim.integrations.pennylane:QsimQubit"
    dev = qml.device("qsim.qubit", wires=2)
    assert dev.name == "qsim.qubit" and type(dev).__name__ == "QsimQubit"


def test_unsupported_requests_say_what_is_wrong():
    dev = qml.device("qsim.qubit", wires=1)
    with pytest.raises(qml.exceptions.DeviceError, match="qsim.qubit"):
        qml.QNode(lambda: qml.sample(wires=[0]), dev)()
    with pytest.raises(qml.exceptions.DeviceError, match="mcm_method"):
        qml.QNode(lambda: qml.expval(qml.Z(0)), dev, mcm_method="tree-traversal")()


MPI_SCRIPT = textwrap.dedent("""\
    import json, sys
    import numpy as np
    import pennylane as qml
    from mpi4py import MPI

    n = 8  # the test sets QSIM_MIN_DISTRIBUTED_QUBITS=4, so the state is sharded over the ranks
    dev = qml.device("qsim.qubit", wires=n, seed=3)
    H = qml.Hamiltonian([0.5, -0.3, 0.8], [qml.Z(0) @ qml.Z(n - 1), qml.X(3), qml.Y(n - 2) @ qml.X(1)])

    def gates(w):
        for i in range(n):
            qml.RY(w[i], i)
        for i in range(n - 1):
            qml.CNOT([i, i + 1])
        qml.RX(w[0], n - 1)

    def circuit(w):
        gates(w)
        return qml.expval(H), qml.probs(wires=[0, n - 1]), qml.var(qml.X(n - 1))

    w = qml.numpy.array(np.linspace(0.1, 1.2, n), requires_grad=True)
    values = qml.QNode(circuit, dev)(w)
    grad = qml.grad(qml.QNode(lambda w: (gates(w), qml.expval(H))[1], dev, diff_method="adjoint"))(w)
    sampled = qml.set_shots(qml.QNode(circuit, dev), 2000)(w)
    state = qml.QNode(lambda w: (gates(w), qml.state())[1], dev)(w)  # gathered, then on every rank
    out = {"state_norm": float(np.vdot(state, state).real), "amp": [float(abs(a)) for a in state[:4]],
           "ranks": MPI.COMM_WORLD.Get_size(), "expval": float(values[0]), "probs": values[1].tolist(),
           "var": float(values[2]), "grad": [float(g) for g in grad[:3]], "sampled_probs": sampled[1].tolist(),
           "distributed": dev.last_run_metadata.get("distributed")}
    if MPI.COMM_WORLD.rank == 0:
        print("RESULT " + json.dumps(out))
    """)


@pytest.mark.mpi
@pytest.mark.timeout(200)
def test_qsim_qubit_under_mpirun_matches_one_process(tmp_path):
    script = tmp_path / "pl_mpi.py"
    script.write_text(MPI_SCRIPT)
    env = dict(os.environ, QSIM_NUM_THREADS="1", PYTHONUNBUFFERED="1", QSIM_MIN_DISTRIBUTED_QUBITS="4")

    def result(cmd):
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=90, env=env, cwd=ROOT)
        assert proc.returncode == 0, proc.stderr[-3000:]
        (line,) = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
        return json.loads(line[len("RESULT "):])

    one = result([sys.executable, str(script)])
    two = result([find_mpirun(), "-n", "2", sys.executable, "-m", "mpi4py", str(script)])
    assert (one["ranks"], one["distributed"], two["ranks"], two["distributed"]) == (1, False, 2, True)
    assert abs(one["state_norm"] - 1) < 1e-12 and abs(two["state_norm"] - 1) < 1e-12
    for key in ("expval", "probs", "var", "grad", "amp"):
        np.testing.assert_allclose(two[key], one[key], atol=1e-10, err_msg=key)
    # Same device seed: rank 0's seeds drive the sampling, so the samples agree too.
    np.testing.assert_allclose(two["sampled_probs"], one["sampled_probs"], atol=1e-12)
