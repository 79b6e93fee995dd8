"""The distributed state against the single-process ``StateVector``, written once for any rank count.

Every comparison runs the same circuit through ``execute`` twice on every rank: once with the
runtime's state factory (split over all ranks of COMM_WORLD, or trivially on one rank), once with
a plain ``StateVector``; results must agree to 1e-12 (complex128), samples exactly.
"""

from __future__ import annotations

import numpy as np
import pytest

import qsim
from oracle import random_unitary
from qsim.circuit import observables as obs
from qsim.circuit.gates import GATES
from qsim.state.executor import execute
from qsim.state.statevector import StateVector

TOL = 1e-12
_ONE_QUBIT = [g for g, s in GATES.items() if s.qubits == 1]
_TWO_QUBIT = [g for g, s in GATES.items() if s.qubits == 2]
_THREE_QUBIT = [g for g, s in GATES.items() if s.qubits == 3]


def run_both(runtime, circuit, shots=0, seed=None):
    """(distributed result, single-process result), both with the device's distributed options."""
    dist = execute(circuit, shots, runtime.state_factory(circuit), seed=seed, absorb_into_two_qubit=False,
                   extra_metadata=runtime.metadata())
    single = execute(circuit, shots, lambda n: StateVector(n), seed=seed, absorb_into_two_qubit=False)
    return dist, single


def meta(result):
    return result.additional_metadata["qsimMetadata"] if hasattr(result, "additional_metadata") \
        else result.to_dict()["additionalMetadata"]["qsimMetadata"]


def assert_same_values(dist, single, comm, tol=TOL):
    for r, a, b in zip(single.result_types, dist.values, single.values):
        if r.kind == "statevector":
            if comm.Get_rank() == 0:
                np.testing.assert_allclose(a, b, rtol=0, atol=tol)
            else:
                assert a is None
        elif isinstance(b, dict):
            assert a.keys() == b.keys()
            for k in b:
                assert abs(a[k] - b[k]) <= tol, (r.kind, k)
        else:
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=0, atol=tol, err_msg=r.kind)


def random_gate(c, rng, n):
    """One random instruction over every gate kind, with random ctrl/negctrl and powers."""
    kind = rng.integers(5)
    qubits = [int(q) for q in rng.permutation(n)]
    if kind == 0:
        name = _ONE_QUBIT[rng.integers(len(_ONE_QUBIT))]
    elif kind == 1:
        name = _TWO_QUBIT[rng.integers(len(_TWO_QUBIT))]
    elif kind == 2:
        name = _THREE_QUBIT[rng.integers(len(_THREE_QUBIT))]
    elif kind == 3:
        k = int(rng.integers(1, 4))
        ctrl = qubits[k:k + int(rng.integers(0, 2))]
        c.unitary(random_unitary(k, rng), qubits[:k], control=ctrl or None,
                  control_state=[int(b) for b in rng.integers(0, 2, len(ctrl))] if ctrl else None)
        return
    else:  # diagonal unitary on 1..3 qubits
        k = int(rng.integers(1, 4))
        c.unitary(np.diag(np.exp(1j * rng.uniform(0, 2 * np.pi, 1 << k))), qubits[:k])
        return
    spec = GATES[name]
    params = [float(x) for x in rng.uniform(-np.pi, np.pi, spec.params)]
    nq = spec.qubits
    extra = int(rng.integers(0, 3)) if nq + 2 <= n else 0
    ctrl = qubits[nq:nq + extra]
    power = [None, 2, -1, 0.5][int(rng.integers(4))]
    c.gate(name, qubits[:nq], params, control=ctrl or None,
           control_state=[int(b) for b in rng.integers(0, 2, len(ctrl))] if ctrl else None, power=power)


def random_circuit(rng, n, depth):
    c = qsim.Circuit()
    for q in range(n):  # every qubit used, in a random superposition
        c.ry(q, float(rng.uniform(0, np.pi)))
    for _ in range(depth):
        random_gate(c, rng, n)
    return c


def add_exact_results(c, rng, n):
    qs = [int(q) for q in rng.permutation(n)]
    c.probability()
    c.probability(qs[:3])
    c.expectation(obs.X() @ obs.Y() @ obs.Z(), qs[:3])
    c.expectation(obs.H() @ obs.Z(), qs[2:4])
    c.variance(obs.Hermitian(random_hermitian(rng, 2)), qs[1:3])
    c.variance(obs.Y())
    c.expectation(obs.Z() @ obs.Z(), [0, n - 1])
    c.amplitude(["".join(str(int(b)) for b in rng.integers(0, 2, n)) for _ in range(3)] + ["0" * n])
    c.state_vector()
    c.density_matrix([qs[0], qs[4]])
    c.density_matrix([0, 1])


def random_hermitian(rng, k):
    a = rng.normal(size=(1 << k, 1 << k)) + 1j * rng.normal(size=(1 << k, 1 << k))
    return a + a.conj().T


@pytest.mark.parametrize("case", range(8))
def test_random_circuits_every_exact_result(runtime, comm, rng, case):
    n = [5, 6, 7][case % 3]
    c = random_circuit(rng, n, 25)
    add_exact_results(c, rng, n)
    dist, single = run_both(runtime, c)
    assert_same_values(dist, single, comm)
    m = meta(dist)
    assert m["ranks"] == comm.Get_size()
    if comm.Get_size() > 1:
        assert m["distributed"] and m["globalQubits"] == comm.Get_size().bit_length() - 1


@pytest.mark.parametrize("n", [6, 14])
def test_sampling_matches_single_process_exactly(runtime, comm, rng, n):
    """Small n: fewer sampling chunks than ranks (replicated read); n = 14: per-rank chunks."""
    c = random_circuit(rng, n, 30)
    c.sample(obs.Z() @ obs.X(), [0, n - 1])
    c.expectation(obs.Y(), [1])
    c.probability([n - 1, 0, 2])
    dist, single = run_both(runtime, c, shots=997, seed=1234)
    np.testing.assert_array_equal(dist.measurements, single.measurements)
    for a, b in zip(dist.values, single.values):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_plain_sampling_with_global_permutation(runtime, comm, rng):
    """The returned basis indices are in program order whatever the internal permutation."""
    n = 14
    c = random_circuit(rng, n, 10)
    c.h(0).cnot(0, n - 1).swap(1, n - 2).x(0).h(n - 3)
    dist, single = run_both(runtime, c, shots=500, seed=7)
    np.testing.assert_array_equal(dist.measurements, single.measurements)


def test_every_target_and_control_position(runtime, comm, rng):
    """Every ordered (control, target) pair and every target pair across the local/global split."""
    n = 6
    c = random_circuit(rng, n, 0)
    u1 = random_unitary(1, rng)
    for a in range(n):
        for b in range(n):
            if a == b:
                continue
            c.cnot(a, b)
            c.unitary(u1, [b], control=[a], control_state=[int((a + b) % 2)])
            c.unitary(random_unitary(2, rng), [a, b])
            c.cphaseshift(a, b, 0.3 + a)
            c.unitary(random_unitary(1, rng), [a])
    c.state_vector().probability().expectation(obs.X() @ obs.X(), [0, n - 1])
    dist, single = run_both(runtime, c)
    assert_same_values(dist, single, comm)


def test_three_qubit_gates_at_every_position(runtime, comm, rng):
    n = 6
    c = random_circuit(rng, n, 0)
    for t in range(n):
        others = [q for q in range(n) if q != t]
        c.ccnot(others[t % 5], others[(t + 2) % 5], t)
        c.cswap(t, others[t % 5], others[(t + 3) % 5])
        c.unitary(random_unitary(3, rng), [t, others[(t + 1) % 5], others[(t + 4) % 5]])
    c.state_vector()
    dist, single = run_both(runtime, c)
    assert_same_values(dist, single, comm)


QASM_BRANCHES = """
OPENQASM 3.0;
qubit[6] q;
bit[3] b;
h q[0]; h q[3]; cnot q[0], q[5]; ry(0.7) q[1]; cnot q[1], q[4]; rx(0.4) q[2];
b[0] = measure q[0];
if (b[0] == 1) { x q[2]; h q[1]; } else { z q[2]; cnot q[5], q[1]; }
reset q[5];
b[1] = measure q[1];
h q[5]; cnot q[5], q[0]; ry(0.3) q[4];
reset q[0];
b[2] = measure q[4];
if (b[2] == 0) { x q[0]; }
"""


@pytest.mark.parametrize("shots", [0, 400])
def test_mid_circuit_measurement_and_reset_branches(runtime, comm, shots):
    src = QASM_BRANCHES
    if shots == 0:
        src += "#pragma braket result probability\n#pragma braket result expectation x(q[5]) @ z(q[2])\n" \
               "#pragma braket result density_matrix q[0], q[5]\n"
    c = qsim.device().to_circuit(src)
    dist, single = run_both(runtime, c, shots=shots, seed=99)
    if shots:
        np.testing.assert_array_equal(dist.measurements, single.measurements)
    else:
        assert_same_values(dist, single, comm)
    assert meta(dist)["pathsMax"] == meta(single)["pathsMax"]


def _counts(result):
    m = meta(result)
    return m.get("exchanges", 0), m.get("bytesSentPerRank", 0)


def test_diagonal_control_only_and_global_permutations_send_nothing(runtime, comm, rng):
    """Diagonal gates anywhere, gates whose global qubits are only controls, and permutations of
    global qubits (x, y, cnot, ccnot, swap; swap of any two qubits) move no data."""
    n = 6
    g = comm.Get_size().bit_length() - 1  # qubits 0 .. g-1 start global
    c = qsim.Circuit()
    for q in range(g, n):  # a superposition on the local qubits; the global ones get x below
        c.ry(q, float(rng.uniform(0, np.pi)))
    c.x(0)
    for a in range(n):
        for b in range(n):
            if a != b:
                c.cz(a, b).cphaseshift(a, b, 0.1 * (a + 1)).zz(a, b, 0.2 * b)
        c.rz(a, 0.3 * a).t(a).phaseshift(a, 0.5)
    c.unitary(np.diag(np.exp(1j * np.arange(8))), [0, 3, 5])
    for gq in range(g):
        for t in range(g, n):
            c.cnot(gq, t).unitary(random_unitary(1, rng), [t], control=[gq])
            c.ry(t, 0.4, control=[gq], control_state=[0])
    for gq in range(g):
        c.x(gq).y(gq)
        for other in range(g):
            if other != gq:
                c.cnot(gq, other).swap(gq, other)
    c.swap(0, n - 1).swap(1, n - 2)  # any swap is a relabel
    c.ccnot(0, 1, 2)  # controls now local or global, target local
    # reads that need no exchange either (a state_vector result would gather)
    c.probability().expectation(obs.Z() @ obs.Z() @ obs.Z(), [0, 1, n - 1]).amplitude(["010101", "111000"])
    c.probability([n - 1, 0]).density_matrix([2, 3])
    dist, single = run_both(runtime, c)
    assert_same_values(dist, single, comm)
    assert _counts(dist) == (0, 0)
    assert meta(dist)["relabels"] >= (0 if comm.Get_size() == 1 else 1)


def test_lookahead_evicts_an_unused_qubit_and_never_swaps_back(runtime, comm, rng):
    """h on the global qubit 0 needs it local; the evicted qubit must be the one never used again
    (qubit 3, not the highest local bit), so later gates on the others need no further exchange."""
    n = 6
    g = comm.Get_size().bit_length() - 1
    z = np.diag([1.0, -1.0])
    state = runtime.state_factory(None)(n)
    state.apply_all([((n - 1,), z, (), ())])  # the first call may pick the initial layout; keep it
    ref = StateVector(n)
    items = [((q,), random_unitary(1, rng), (), ()) for q in range(g, n)]
    for _ in range(3):
        items.append(((0,), random_unitary(1, rng), (), ()))
        for q in (2, 4, 5):
            items.append(((q,), random_unitary(1, rng), (), ()))
        items += [((2,), np.array([[0, 1], [1, 0]]), (0,), (1,)), ((0,), np.array([[0, 1], [1, 0]]), (4,), (1,))]
    items += [((3,), z, (), ()), ((1,), z, (), ())]
    state.apply_all(items)
    ref.apply_all([((n - 1,), z, (), ())] + items)
    assert abs(state.amplitude(5) - ref.amplitude(5)) < TOL
    np.testing.assert_allclose(state.probabilities(), ref.probabilities(), rtol=0, atol=TOL)
    m = state.describe()
    if g == 0:
        assert (m["exchanges"], m["bytesSentPerRank"]) == (0, 0)
    else:
        assert m["exchanges"] == 1 and not state.layout.is_global(0)
        assert state.layout.is_global(3) or state.layout.is_global(1)  # the qubits never needed again
        assert m["bytesSentPerRank"] == (1 << (n - g)) * 16 // 2  # one qubit swapped: half the shard


def test_qft_exchanges_once_at_its_end(runtime, comm):
    """A fresh |0...0> lets the qubits needed last start global; QFT's only exchange is one batch
    for its last g Hadamards: (1 - 2^-g) of a shard, against g full shards for pairwise exchange."""
    n = 7
    g = comm.Get_size().bit_length() - 1
    c = qsim.Circuit()
    for j in range(n):
        c.h(j)
        for k in range(j + 1, n):
            c.cphaseshift(k, j, np.pi / (1 << (k - j)))
    for j in range(n // 2):
        c.swap(j, n - 1 - j)
    c.x(0).probability().amplitude(["1" + "0" * (n - 1)])
    dist, single = run_both(runtime, c)
    assert_same_values(dist, single, comm)
    m = meta(dist)
    shard = (1 << (n - g)) * 16
    assert (m["exchanges"], m["bytesSentPerRank"]) == ((1, shard - shard // (1 << g)) if g else (0, 0))


def test_swaps_due_together_are_batched(runtime, comm, rng):
    """Dense gates on every global qubit in a row: one exchange, (1 - 2^-g) of the shard sent."""
    n = 6
    g = comm.Get_size().bit_length() - 1
    c = qsim.Circuit()
    for q in range(g, n):
        c.ry(q, 0.1 + q)
    for q in range(g):
        c.h(q)
    for q in range(g, n):
        c.rx(q, 0.2 + q)
    c.probability()
    dist, single = run_both(runtime, c)
    assert_same_values(dist, single, comm)
    if g:
        m = meta(dist)
        shard = (1 << (n - g)) * 16
        assert (m["exchanges"], m["swappedQubits"]) == (1, g)
        assert m["bytesSentPerRank"] == shard - shard // (1 << g)


def test_small_buffer_splits_messages(runtime, comm, rng, monkeypatch):
    """An 8-amplitude buffer: every exchange is several messages; results unchanged."""
    monkeypatch.setenv("QSIM_EXCHANGE_BUFFER_BYTES", "128")
    n = 7
    c = random_circuit(rng, n, 40)
    add_exact_results(c, rng, n)
    dist, single = run_both(runtime, c)
    assert_same_values(dist, single, comm)
    m = meta(dist)
    assert m["messageAmplitudesMax"] == 4
    if comm.Get_size() > 1:
        assert m["messages"] > m["exchanges"]


def test_replicated_below_threshold(runtime, comm, rng):
    runtime.min_distributed_qubits = 7
    c = random_circuit(rng, 6, 20)
    add_exact_results(c, rng, 6)
    dist, single = run_both(runtime, c)
    m = meta(dist)
    assert (m["distributed"], m.get("replicated")) == (False, True)
    # the replicated state is a StateVector on every rank: state_vector everywhere
    for r, a, b in zip(single.result_types, dist.values, single.values):
        if isinstance(b, dict):
            assert all(abs(a[k] - b[k]) <= TOL for k in b)
        else:
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=0, atol=TOL)


def test_too_few_local_qubits_is_replicated(runtime, comm):
    g = comm.Get_size().bit_length() - 1
    local, distributed = runtime.split(g + 1)
    assert (local, distributed) == (1, False)
    assert runtime.split(g + 2) == (2, True)


def test_copy_and_same_as_across_different_layouts(runtime, comm, rng):
    n = 6
    make = runtime.state_factory(None)
    a = make(n)
    a.apply_all([((q,), random_unitary(1, rng), (), ()) for q in range(n)])
    b = a.copy()
    assert a.same_as(b)
    x = np.array([[0, 1], [1, 0]])
    b.apply_all([((0,), x, (), ()), ((1,), random_unitary(1, rng), (), ()), ((0, 4), np.eye(4)[[0, 2, 1, 3]], (), ())])
    assert not a.same_as(b)
    u = random_unitary(1, rng)
    a.apply_all([((0,), x, (), ()), ((1,), u, (), ())])
    b2 = a.copy()
    b2.apply_all([((5,), u, (), ()), ((5,), u.conj().T, (), ()), ((2, 3), np.eye(4)[[0, 2, 1, 3]], (), ()),
                  ((2, 3), np.eye(4)[[0, 2, 1, 3]], (), ())])
    assert a.same_as(b2) and b2.same_as(a)
    assert abs(a.norm_squared() - 1) < 1e-12


def test_device_run_under_mpi_is_spmd(comm, monkeypatch):
    """The device's own path (what an SPMD script calls): every rank gets the result."""
    monkeypatch.setenv("QSIM_MIN_DISTRIBUTED_QUBITS", "0")
    dev = qsim.device("local:qsim/statevector", comm=comm)
    src = "OPENQASM 3.0; qubit[5] q; h q[0]; cnot q[0], q[4]; ry(0.2) q[2]; #pragma braket result probability\n"
    res = dev.run(src, shots=0).result()
    expected = qsim.device("local:qsim/statevector", comm=None).run(src).result()
    np.testing.assert_allclose(res.values[0], expected.values[0], rtol=0, atol=TOL)
    sampled = dev.run(src.replace("#pragma braket result probability\n", ""), shots=100, seed=3).result()
    local = qsim.device("local:qsim/statevector", comm=None).run(
        src.replace("#pragma braket result probability\n", ""), shots=100, seed=3).result()
    np.testing.assert_array_equal(sampled.measurements, local.measurements)


def test_single_precision(comm, rng, monkeypatch):
    from qsim.distributed import DistributedRuntime

    monkeypatch.setenv("QSIM_MIN_DISTRIBUTED_QUBITS", "0")
    rt = DistributedRuntime(comm, "single")
    n = 6
    c = random_circuit(rng, n, 25)
    add_exact_results(c, rng, n)
    dist = execute(c, 0, rt.state_factory(c), absorb_into_two_qubit=False)
    single = execute(c, 0, lambda k: StateVector(k, "single"), absorb_into_two_qubit=False)
    assert_same_values(dist, single, comm, tol=2e-5)
    assert meta(dist)["precision"] == "single"
